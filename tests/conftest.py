from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Hypothesis profiles (pick one with --hypothesis-profile): "ci", the default, keeps
# every property test to a few seconds; "long" is the fuzzing run on demand
# (`pytest -m fuzz --hypothesis-profile=long`: 50,000 cases per fuzz test).
settings.register_profile("ci", max_examples=200)
settings.register_profile("long", max_examples=50_000)
settings.register_profile("medium", max_examples=3_000)
settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"

# Examples that take seconds to build, run or draw: their cases run in the full
# suite only, so the fast tier (`pytest -m "not slow"`) still covers every
# other example in each per-example test.
HEAVY_EXAMPLES = frozenset(
    {
        *("resnet50.agg", "se_resnet50.agg", "densenet121.agg", "fractalnet.agg", "randwire.agg"),
        *("hardnet.agg", "vovnet.agg", "cspresnet50.agg", "unet.agg", "unet_bilinear.agg", "dpn68.agg"),
    }
)


def slow_if_heavy(name: str) -> tuple[pytest.MarkDecorator, ...]:
    """The marks of a test case about example ``name``."""
    return (pytest.mark.slow,) if name in HEAVY_EXAMPLES else ()


def example_paths() -> list[Any]:
    """Every file in examples/ as a parametrize case, the heavy ones marked slow."""
    return [pytest.param(p, id=p.name, marks=slow_if_heavy(p.name)) for p in sorted(EXAMPLES.glob("*.agg"))]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the aggspec command in-process: (exit code, stdout, stderr)."""
    from aggspec import cli

    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` run where PyTorch sees a GPU and are skipped, saying so, elsewhere."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run them on a GPU machine: pytest -m cuda)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files under tests/golden/ from the current output",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with tests/golden/<name>, or rewrite it under --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(name: str, actual: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path}; run pytest --update-golden"
        assert actual == path.read_text(encoding="utf-8")

    return check
