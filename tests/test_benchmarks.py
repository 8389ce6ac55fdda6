"""The benchmark entry points import and render: a broken benchmark shows here, not months later.

Their measurements are never asserted here (tests do not time anything); the
renderers re-read the JSON that GPU runs left in benchmarks/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def _run(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_the_summary_entry_point_explains_itself() -> None:
    assert "every performance figure" in _run("-m", "benchmarks", "--help").lower()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "saved", "expected"),
    [
        ("memory_efficient.py", "memory_efficient_h200_fp32.json", "| DenseNet-BC-100-12 | 64 |"),
        ("memory_efficient.py", "memory_efficient_cpu.json", "| SparseNet-BC-100-24 | 64 |"),
        ("train_gpu.py", "train_gpu_h200.json", "| ResNet-18 | bf16 + channels-last | 64 |"),
    ],
)
def test_saved_runs_render_as_tables(script: str, saved: str, expected: str) -> None:
    path = Path("benchmarks") / saved
    assert expected in _run(str(Path("benchmarks") / script), "--render", str(path))


def test_a_benchmark_replaces_its_own_section_and_no_other(tmp_path: Path) -> None:
    import doctest

    from benchmarks import results

    page = tmp_path / "results.md"
    page.write_text("# Results\n\n## A\n\nold\n\n### A's notes\n\nkept with A\n\n## B\n\nb\n")
    results.write_section("A", "new", path=page)
    assert page.read_text() == "# Results\n\n## A\n\nnew\n\n## B\n\nb\n"
    results.write_section("B", "b2", path=page)
    results.write_section("Summary", "s", first=True, path=page)
    assert page.read_text() == "# Results\n\n## Summary\n\ns\n\n## A\n\nnew\n\n## B\n\nb2\n"
    assert doctest.testmod(results).failed == 0
