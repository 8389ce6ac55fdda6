"""How long very deep specs take to load (parse + elaborate) and build (a checked GraphModule).

Three measurements, in one process with imports warm:

* the SparseNet of the issue, three 1,000-layer stages
  (``examples/sparsenet_cifar.agg -D depth=3004 -D bottleneck=false -D growth=12``);
* the curve: one SparseNet stage of 100 to 10,000 layers, with the time per
  connection, which stays flat when the work is linear in connections;
* a ``where`` rule against the named rule with the same connections
  (``take where popcount(l - j) == 1`` against ``take exponential``), their
  load times interleaved with the order alternating.

    python benchmarks/build_speed.py            # print the tables
    python benchmarks/build_speed.py --quick    # up to 3,000 layers
    python benchmarks/build_speed.py --write    # also update benchmarks/results.md
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from aggspec.pytorch.lower import lower  # noqa: E402
from aggspec.pytorch.verify import verify_shapes  # noqa: E402
from benchmarks.results import write_section  # noqa: E402
from benchmarks.timing import Ratio, interleaved, ratio  # noqa: E402

SPARSENET = ROOT / "examples" / "sparsenet_cifar.agg"
DEEP = {"depth": 3004, "bottleneck": False, "growth": 12}
STAGE = """
def unit() {{ bn relu conv(12, 3) }}
network Stage(input 3x32x32) {{
    conv(24, 3)
    stage {layers} * unit {{ take {rule}; merge concat; emit exponential }}
    bn relu gap flatten linear(10)
}}
"""
WHERE = "where popcount(l - j) == 1"
LIMITS = aggspec.Limits(max_connections=10**9)


def _seconds(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _median(work: Callable[[], Any], repeats: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeats):
        times.append(_seconds(work))
        gc.collect()  # the last model's garbage is not the next one's cost
    return statistics.median(times), min(times), max(times)


@dataclass(frozen=True)
class Deep:
    load: float
    build: float
    build_low: float
    build_high: float
    check: float  # of build: the shape check on meta tensors


def sparsenet_3x1000(repeats: int) -> Deep:
    aggspec.build(aggspec.load(SPARSENET, DEEP))  # imports and caches warm
    gc.collect()  # the warm-up model is cyclic garbage: freeing it is no load's cost
    load, _, _ = _median(lambda: aggspec.load(SPARSENET, DEEP), repeats)
    spec = aggspec.load(SPARSENET, DEEP)
    build, low, high = _median(lambda: aggspec.build(spec), repeats)
    # Timed on its own: build minus an unchecked build is the difference of two
    # noisy medians, which once came out as 0.00 s.
    lowered = lower(spec.graph)
    check, _, _ = _median(lambda: verify_shapes(lowered), repeats)
    return Deep(load, build, low, high, check)


@dataclass(frozen=True)
class Point:
    layers: int
    connections: int
    load: float
    build: float

    @property
    def per_connection_us(self) -> float:
        return (self.load + self.build) / self.connections * 1e6


def _stage(layers: int, rule: str = "exponential") -> str:
    return STAGE.format(layers=layers, rule=rule)


def curve(sizes: list[int]) -> list[Point]:
    points = []
    for layers in sizes:
        repeats = 1 if layers >= 10_000 else 3
        text = _stage(layers)
        load, _, _ = _median(lambda t=text: aggspec.loads(t, limits=LIMITS), repeats)
        spec = aggspec.loads(text, limits=LIMITS)
        build, _, _ = _median(lambda s=spec: aggspec.build(s), repeats)
        points.append(Point(layers, spec.graph.number_of_edges(), load, build))
        print(f"{layers:,} layers: load {load:.2f} s, build {build:.2f} s", flush=True)
    return points


def where_against_named(layers: int, pairs: int) -> Ratio:
    """Load time of the ``where`` rule / the named rule, per interleaved pair."""
    named, written = _stage(layers), _stage(layers, WHERE)
    same = aggspec.loads(named, limits=LIMITS).graph.number_of_edges()
    assert aggspec.loads(written, limits=LIMITS).graph.number_of_edges() == same
    return ratio(
        interleaved(
            lambda: _seconds(lambda: aggspec.loads(written, limits=LIMITS)),
            lambda: _seconds(lambda: aggspec.loads(named, limits=LIMITS)),
            pairs,
        )
    )


def run(quick: bool) -> tuple[Deep, list[Point], dict[int, Ratio]]:
    deep = sparsenet_3x1000(1 if quick else 3)
    sizes = [100, 300, 1_000, 3_000] + ([] if quick else [10_000])
    points = curve(sizes)
    wheres = {layers: where_against_named(layers, 3) for layers in ([1_000] if quick else [1_000, 10_000])}
    return deep, points, wheres


def table(deep: Deep, points: list[Point], wheres: dict[int, Ratio]) -> str:
    lines = [
        f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}, load average "
        f"{os.getloadavg()[0]:.1f} at the end; medians of 3 runs (1 at 10,000 layers), imports warm.",
        "",
        f"SparseNet 3 x 1,000 layers: load {deep.load:.2f} s + build {deep.build:.2f} s "
        f"[{deep.build_low:.2f}-{deep.build_high:.2f}] = **{deep.load + deep.build:.2f} s** "
        f"(the shape check {deep.check:.2f} s of the build).",
        "",
        "One SparseNet stage (`take exponential`), load (parse + elaborate) and build "
        "(GraphModule, shapes checked):",
        "",
        "| layers | connections | load s | build s | total s | µs per connection |",
        "|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.layers:,} | {p.connections:,} | {p.load:.2f} | {p.build:.2f} | {p.load + p.build:.2f} "
            f"| {p.per_connection_us:.0f} |"
        )
    lines += [
        "",
        f"`take {WHERE}` against `take exponential` (the same connections), load time, interleaved pairs:",
        "",
        "| layers | where s | named s | ratio (min-max) |",
        "|---|---|---|---|",
    ]
    for layers, r in wheres.items():
        lines.append(f"| {layers:,} | {r.a:.2f} | {r.b:.2f} | {r} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="up to 3,000 layers, fewer repeats")
    parser.add_argument("--write", action="store_true", help="update the section in benchmarks/results.md")
    args = parser.parse_args()
    text = table(*run(args.quick))
    print(text)
    if args.write:
        write_section("Building very deep specs", f"`python benchmarks/build_speed.py --write`\n\n{text}")


if __name__ == "__main__":
    main()
