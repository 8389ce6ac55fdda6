"""Compiled models against hand-written PyTorch, side by side in one process.

For each network, the aggspec-compiled model (weights ported from the
reference, so both compute the same function) and the hand-written reference
from tests/references/ run forward+backward on the same batch, alternating,
and we report the ratio of median times and of activation memory (bytes of
tensors autograd saves for backward, counted once per storage, parameters and
buffers left out: ``aggspec.pytorch.memory.saved_bytes``). Ratios near 1
mean compiling through aggspec costs nothing.

    python benchmarks/compiled_vs_reference.py            # print the table
    python benchmarks/compiled_vs_reference.py --write    # also update benchmarks/results.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aggspec  # noqa: E402
from aggspec.pytorch.memory import saved_bytes  # noqa: E402
from benchmarks.results import write_section  # noqa: E402
from tests.references import densenet, resnet  # noqa: E402

CASES = [
    ("ResNet-18", "resnet18.agg", {}, resnet.resnet18, (3, 224, 224), 8),
    (
        "DenseNet-BC-100-12",
        "densenet_cifar.agg",
        {"depth": 100, "bottleneck": True},
        lambda: densenet.CifarNet(100, 12, True, False),
        (3, 32, 32),
        32,
    ),
    (
        "SparseNet-BC-100-24",
        "sparsenet_cifar.agg",
        {"classes": 100},
        lambda: densenet.CifarNet(100, 24, True, True, 100),
        (3, 32, 32),
        32,
    ),
    (
        "PreAct-ResNet-110 (dense sum)",
        "preact_resnet.agg",
        {"depth": 110},
        lambda: resnet.PreActResNet(110),
        (3, 32, 32),
        32,
    ),
]


def step_time(model: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    model(x).sum().backward()
    return time.perf_counter() - start


def run(repeats: int) -> list[tuple[str, float, float, float, float]]:
    rows = []
    for label, file, overrides, factory, shape, batch in CASES:
        torch.manual_seed(0)
        reference = factory()
        compiled = aggspec.build(ROOT / "examples" / file, **overrides)
        aggspec.port_state_dict(compiled, reference.state_dict())
        x = torch.randn(batch, *shape)
        for model in (compiled, reference):  # warm up
            step_time(model, x)
        times: dict[str, list[float]] = {"compiled": [], "reference": []}
        for _ in range(repeats):
            times["compiled"].append(step_time(compiled, x))
            times["reference"].append(step_time(reference, x))
        t_ours, t_ref = statistics.median(times["compiled"]), statistics.median(times["reference"])
        m_ours, m_ref = saved_bytes(compiled, x), saved_bytes(reference, x)
        rows.append((label, t_ours, t_ref, m_ours / 2**20, m_ref / 2**20))
        print(
            f"{label}: {t_ours:.3f} s vs {t_ref:.3f} s, {m_ours / 2**20:.1f} MiB vs {m_ref / 2**20:.1f} MiB",
            flush=True,
        )
    return rows


def table(rows: list[tuple[str, float, float, float, float]], device: str) -> str:
    lines = [
        f"Forward+backward on {device}, median of the runs; memory = bytes autograd saves for backward "
        "(each storage once, parameters and buffers left out).",
        "",
        "| network | compiled (s) | hand-written (s) | time ratio "
        "| compiled (MiB) | hand-written (MiB) | memory ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, t_ours, t_ref, m_ours, m_ref in rows:
        lines.append(
            f"| {label} | {t_ours:.3f} | {t_ref:.3f} | {t_ours / t_ref:.2f} | {m_ours:.1f} | {m_ref:.1f} "
            f"| {m_ours / m_ref:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update the section in benchmarks/results.md")
    args = parser.parse_args()
    device = f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"
    text = table(run(args.repeats), device)
    print(text)
    if args.write:
        body = f"`python benchmarks/compiled_vs_reference.py --write`\n\n{text}"
        write_section("Compiled vs hand-written PyTorch", body)


if __name__ == "__main__":
    main()
