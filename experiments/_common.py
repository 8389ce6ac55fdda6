"""What the experiment scripts share: the spec, the five variants, threads, tables and docs/results.md.

Not a script: ``aggregation.py`` and ``depth.py`` import it (their folder is
first on ``sys.path`` when they run as ``python experiments/NAME.py``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "experiments" / "specs" / "aggregation.agg"
RESULTS = ROOT / "docs" / "results.md"
IMAGES = ROOT / "docs" / "img"


@dataclass(frozen=True)
class Variant:
    """One aggregation: the spec's ``rule`` and ``merge`` params, and how the paper names it."""

    key: str  # command-line name
    rule: str  # the spec's take rule: chain, dense or exponential
    merge: str  # concat or sum (a chain has nothing to merge)
    network: str  # the network it amounts to
    clauses: str  # the stage clauses the spec writes for it

    @property
    def concat(self) -> bool:
        return self.merge == "concat" and self.rule != "chain"


VARIANTS = (
    Variant("chain", "chain", "sum", "plain", "take chain"),
    Variant("dense-sum", "dense", "sum", "ResNet (unrolled)", "take dense; merge sum; emit all"),
    Variant("dense-concat", "dense", "concat", "DenseNet", "take dense; merge concat; emit all"),
    Variant(
        "exp-concat", "exponential", "concat", "SparseNet", "take exponential; merge concat; emit exponential"
    ),
    Variant(
        "exp-sum", "exponential", "sum", "SparseNet (sum)", "take exponential; merge sum; emit exponential"
    ),
)
BY_KEY = {variant.key: variant for variant in VARIANTS}
COLOURS = {
    "chain": "#7f7f7f",
    "dense-sum": "#1f77b4",
    "dense-concat": "#d62728",
    "exp-concat": "#2ca02c",
    "exp-sum": "#9467bd",
}


def parse_variants(text: str) -> list[Variant]:
    """``"chain,exp-concat"`` as variants, in the order given; ``"all"`` is every one."""
    if text == "all":
        return list(VARIANTS)
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in BY_KEY]
    if unknown or not keys:
        raise ValueError(f"unknown variant(s) {unknown or text!r}; choose from {', '.join(BY_KEY)} or 'all'")
    return [BY_KEY[key] for key in keys]


def parse_ints(text: str) -> list[int]:
    """``"10,40,100"`` as ints."""
    return [int(part) for part in text.split(",") if part.strip()]


def data_shape(data: str) -> tuple[int, int, int]:
    """The spec's input (channels, size) and classes for a data source."""
    name = data.split(":", 1)[0]
    if name in ("digits", "synthetic"):
        return 1, 8, 10
    if name == "cifar10":
        return 3, 32, 10
    if name == "cifar100":
        return 3, 32, 100
    raise SystemExit(f"--data must be digits, synthetic, cifar10:DIR or cifar100:DIR, not {data!r}")


def one_thread() -> None:
    """Run torch on one thread: the machine is shared, and timings are comparable only this way."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set, or parallel work already ran
        torch.set_num_interop_threads(1)


def hardware() -> str:
    """One line: the machine and torch, as the results quote it."""
    import torch

    return (
        f"CPU ({platform.machine()}, {os.cpu_count()} cores, shared), 1 thread, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def short(count: float) -> str:
    """``1234567`` as ``1.23M``; ``2500`` as ``2.50k``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(count) >= scale:
            return f"{count / scale:.2f}{suffix}"
    return f"{count:.0f}"


def plural(count: int, noun: str) -> str:
    """``3 epochs``, ``1 epoch``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


class Stopwatch:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start


def command_line(script: str, argv: Sequence[str]) -> str:
    """How the results were made, for the record: ``--json`` and ``--plot`` (output places) left out."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--json", "--plot"):
            skip = True
        elif not arg.startswith(("--json=", "--plot=")):
            kept.append(arg)
    return " ".join(["python", f"experiments/{script}", *kept])


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace what lies between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``path``.

    The prose around the markers is written by hand and left alone; a file
    without the markers gets them, with ``text``, at its end.
    """
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    old = path.read_text() if path.exists() else "# Results\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    new = (
        pattern.sub(lambda _: block, old, count=1) if pattern.search(old) else f"{old.rstrip()}\n\n{block}\n"
    )
    path.write_text(new)
