"""The grammar is found three ways: in an installed wheel, an editable install and a bare source checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from .conftest import EXAMPLES, ROOT


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = dist.glob("aggspec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "aggspec/grammars/agg.lark" in names and "aggspec/py.typed" in names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
    )
    # The dependencies (torch, lark, networkx...) come from this environment's
    # site-packages, added to the new venv's path; aggspec itself only from the wheel.
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "outer_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(EXAMPLES / "densenet_cifar.agg", work)
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(python), "-c", "import aggspec; print(aggspec.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
        env=clean_env,
    ).stdout
    assert where.startswith(str(site))
    result = subprocess.run(
        [
            str(env_dir / "bin" / "aggspec"),
            "check",
            "densenet_cifar.agg",
            "-D",
            "depth=100",
            "-D",
            "bottleneck=true",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
        env=clean_env,
    )
    assert result.returncode == 0, result.stderr
    assert "769,162 parameters" in result.stdout
    module, grammar = _grammar_seen_by(str(python), work, clean_env)
    assert Path(grammar) == Path(module).parent / "grammars" / "agg.lark"  # the packaged copy


def _grammar_seen_by(python: str, cwd: Path, env: dict[str, str]) -> tuple[str, str]:
    """(aggspec.__file__, grammar_path()) as another interpreter sees them."""
    code = "import aggspec; from aggspec.lang.grammar import grammar_path; aggspec.loads('network T(input 3x8x8) { relu }'); print(aggspec.__file__); print(grammar_path())"
    out = subprocess.run([python, "-c", code], cwd=cwd, capture_output=True, text=True, check=True, env=env)
    module, grammar = out.stdout.strip().splitlines()
    return module, grammar


def test_the_grammar_has_one_source_in_the_checkout() -> None:
    # grammars/agg.lark at the top is the only copy: the package holds none of its own.
    assert (ROOT / "grammars" / "agg.lark").is_file()
    assert not list((ROOT / "aggspec").rglob("*.lark"))


def test_the_editable_install_reads_the_checkouts_grammar(tmp_path: Path) -> None:
    # This environment installs aggspec with `pip install -e`, as the README says.
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    module, grammar = _grammar_seen_by(sys.executable, tmp_path, clean_env)
    assert Path(module).resolve() == ROOT / "aggspec" / "__init__.py"
    assert Path(grammar).resolve() == ROOT / "grammars" / "agg.lark"


@pytest.mark.slow
def test_a_source_checkout_runs_without_installing(tmp_path: Path) -> None:
    # A copy of the checkout on PYTHONPATH (no install of it at all) finds its own grammar.
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "aggspec", checkout / "aggspec", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "grammars", checkout / "grammars")
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    module, grammar = _grammar_seen_by(sys.executable, tmp_path, env)
    assert Path(module) == checkout / "aggspec" / "__init__.py"
    assert Path(grammar) == checkout / "grammars" / "agg.lark"
    (checkout / "grammars" / "agg.lark").unlink()  # a broken checkout says so, as an internal error
    failed = subprocess.run(
        [sys.executable, "-c", "import aggspec; aggspec.loads('network T(input 3x8x8) { relu }')"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert failed.returncode == 1 and "GrammarMissing: aggspec's grammar is missing" in failed.stderr
