"""How fast ``aggspec analyze`` is on very deep specs, against a plain networkx reference.

For SparseNet with three 1,000-layer stages (the target: the whole
``analyze`` within 2 s on two cores) and with three 10,000-layer stages, we
time elaboration and analysis, and the per-stage hop statistics three ways on
the same stages in one process, checking that all agree: aggspec's closed form
(popcount), aggspec's breadth-first search (scipy, used for rules without a
closed form) and the obvious computation (networkx's all-pairs shortest paths).

    python benchmarks/analyze_speed.py            # print the table
    python benchmarks/analyze_speed.py --write    # also update benchmarks/results.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from aggspec.analysis.hops import stage_hops, stage_layer_graph  # noqa: E402
from aggspec.analysis.report import analyze  # noqa: E402
from benchmarks.results import write_section  # noqa: E402

SPEC = ROOT / "examples" / "sparsenet_cifar.agg"


def networkx_hops(stage) -> tuple[int, float]:
    graph = stage_layer_graph(stage)
    total, pairs, longest = 0, 0, 0
    for source, lengths in nx.all_pairs_shortest_path_length(graph):
        for target, hops in lengths.items():
            if target > source:
                total, pairs, longest = total + hops, pairs + 1, max(longest, hops)
    return longest, total / pairs


def command_seconds(depth: int, max_layers: int) -> float:
    command = [sys.executable, "-m", "aggspec", "analyze", str(SPEC), "-D", f"depth={depth}"]
    command += ["-D", "bottleneck=false", "--json", "--max-layers", str(max_layers)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def seconds(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def all_hops(stages, hops=stage_hops, **kwargs):  # type: ignore[no-untyped-def]
    return [hops(stage, **kwargs) for stage in stages]


def run() -> str:
    lines = [
        "| stages x L | `analyze --json` command (s) | elaborate (s) | analyze (s) | hops: closed form (s) "
        "| hops: scipy BFS (s) | hops: networkx (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for depth, max_layers, compare in ((3004, 100_000, True), (30004, 200_000, False)):
        layers = (depth - 4) // 3
        whole = command_seconds(depth, max_layers)
        limits = aggspec.Limits(max_layers=max_layers)
        spec, elaborated = seconds(aggspec.load, SPEC, depth=depth, bottleneck=False, limits=limits)
        _, analyzed = seconds(analyze, spec)
        closed, t_closed = seconds(all_hops, spec.stages)
        whole = 10**15  # search every output, as the table says
        searched, t_searched = seconds(all_hops, spec.stages, closed_form=False, search_budget=whole)
        assert closed == searched
        reference = "not run (about 100 times the 1,000-layer time)"
        if compare:
            theirs, t_theirs = seconds(all_hops, spec.stages, hops=networkx_hops)
            for ours, (longest, mean) in zip(closed, theirs, strict=True):
                assert ours.max_hops == longest and abs(ours.mean_hops - mean) < 1e-9
            reference = f"{t_theirs:.2f} ({t_theirs / t_searched:.0f}x the BFS)"
        lines.append(
            f"| 3 x {layers:,} | {whole:.2f} | {elaborated:.2f} | {analyzed:.2f} | {t_closed:.3f} "
            f"| {t_searched:.2f} | {reference} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="update the section in benchmarks/results.md")
    args = parser.parse_args()
    text = run()
    print(text)
    if args.write:
        body = f"`python benchmarks/analyze_speed.py --write` (CPU, 2 cores)\n\n{text}"
        write_section("aggspec analyze on very deep specs", body)


if __name__ == "__main__":
    main()
