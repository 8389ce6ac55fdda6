"""The benchmark entry points import and render: a broken benchmark shows here, not months later.

Their measurements are never asserted here (tests do not time anything); the
renderers re-read the JSON that GPU runs left in benchmarks/.
"""

from __future__ import annotations

import dataclasses
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
def test_a_measurement_runs_in_a_process_of_its_own() -> None:
    import os
    import runpy

    from benchmarks.timing import gemm_flops

    summary = runpy.run_module("benchmarks.__main__", run_name="benchmarks_summary")
    assert summary["isolated"](os.getpid) != os.getpid()
    assert summary["isolated"](gemm_flops, size=64, repeats=1) > 1e6  # keywords and the result cross over


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "saved", "expected"),
    [
        ("memory_efficient.py", "memory_efficient_h200_fp32.json", "| DenseNet-BC-100-12 | 64 |"),
        ("memory_efficient.py", "memory_efficient_cpu.json", "| SparseNet-BC-100-24 | 64 |"),
        ("memory_efficient.py", "memory_efficient_h200_compile.json", "--compile"),
        ("train_gpu.py", "train_gpu_h200.json", "| ResNet-18 | bf16 + channels-last | 64 |"),
    ],
)
def test_saved_runs_render_as_tables(script: str, saved: str, expected: str) -> None:
    path = Path("benchmarks") / saved
    assert expected in _run(str(Path("benchmarks") / script), "--render", str(path))


@pytest.mark.slow
def test_the_step_profile_names_each_mode() -> None:
    text = _run("benchmarks/profile_step.py", "-D", "depth=10", "--batch", "2", "--steps", "1", "--rows", "3")
    assert "== default:" in text and "== memory-efficient:" in text and "host time per step" in text


@pytest.mark.slow
def test_the_gemm_share_splits_each_layout_into_convolutions_and_the_rest() -> None:
    text = _run("benchmarks/gemm_share.py", "-D", "depth=10", "--batch", "2", "--steps", "1")
    rows = [line for line in text.splitlines() if line.startswith(("| contiguous", "| channels-last"))]
    assert len(rows) == 2
    for row in rows:
        step, conv, rest = (float(cell) for cell in row.split("|")[2:7] if "%" not in cell)
        assert conv > 0 and abs(step - conv - rest) < 2e-3  # the split adds up to the step


def test_the_split_form_of_a_dense_layer_computes_the_concatenated_one() -> None:
    import torch

    from benchmarks.split_concat import concatenated, split

    xs = [torch.randn(2, c, 5, 5, requires_grad=True) for c in (24, 12, 12)]
    bn, conv = torch.nn.BatchNorm2d(48), torch.nn.Conv2d(48, 8, 1, bias=False)
    torch.nn.init.uniform_(bn.weight)
    torch.nn.init.uniform_(bn.bias)
    a = split(xs, bn, conv)
    grads_a = torch.autograd.grad(a.square().sum(), [*xs, bn.weight, conv.weight])
    b = concatenated(xs, bn, conv)
    grads_b = torch.autograd.grad(b.square().sum(), [*xs, bn.weight, conv.weight])
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for ga, gb in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-4)


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


def test_interleaved_pairs_alternate_which_side_runs_first() -> None:
    from benchmarks.timing import interleaved, ratio

    order: list[str] = []
    clock = iter([1.0, 2.0, 4.0, 3.0, 1.0, 5.0])  # the times in the order the calls happen

    def side(name: str) -> float:
        order.append(name)
        return next(clock)

    pairs = interleaved(lambda: side("a"), lambda: side("b"), 3)
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert pairs == [(1.0, 2.0), (3.0, 4.0), (1.0, 5.0)]  # each pair still (a, b)
    summary = ratio(pairs)
    assert (summary.median, summary.low, summary.high) == (0.5, 0.2, 0.75)
    assert (summary.a, summary.b) == (1.0, 4.0)
    assert str(summary) == "0.50 (0.20-0.75)"


def test_the_gemm_peak_is_a_rate_of_this_machine() -> None:
    from benchmarks.timing import gemm_flops

    assert gemm_flops(size=64, repeats=2) > 1e6  # any CPU multiplies 64-cubes faster than a megaflop


def test_the_build_and_step_tables_render_what_they_are_given() -> None:
    from benchmarks import build_speed, compiled_vs_reference
    from benchmarks.timing import Ratio

    deep = build_speed.Deep(load=0.4, build=1.5, build_low=1.4, build_high=1.7, check=0.2)
    points = [build_speed.Point(100, 892, 0.02, 0.14), build_speed.Point(10_000, 153_650, 2.0, 8.0)]
    text = build_speed.table(deep, points, {1_000: Ratio(0.21, 0.19, 1.07, 0.9, 1.2)})
    assert "= **1.90 s**" in text
    assert "| 10,000 | 153,650 | 2.00 | 8.00 | 10.00 | 65 |" in text
    assert "| 1,000 | 0.21 | 0.19 | 1.07 (0.90-1.20) |" in text
    row = compiled_vs_reference.Row(
        "DenseNet-BC-100-12",
        32,
        True,
        False,
        Ratio(1.0, 1.1, 0.95, 0.9, 1.0),
        Ratio(150, 60, 2.5, 2.5, 2.5),
        1.0,
        0.3,
        0.28,
    )
    assert "| DenseNet-BC-100-12 | torch.compile | 32 | 1.000 | 1.100 | 0.95 (0.90-1.00) |" in (
        compiled_vs_reference.table([row], 175e9)
    )
    laid_out = dataclasses.replace(row, compiled=False, channels_last=True)
    assert "| DenseNet-BC-100-12 | eager, channels-last | 32 |" in compiled_vs_reference.table(
        [laid_out], 175e9
    )
