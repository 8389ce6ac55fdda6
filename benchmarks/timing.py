"""How every benchmark times two things against each other, and this CPU's matrix-multiply peak.

On a shared machine a single timing means little; a ratio of two timings
taken next to each other means more, and the spread of many such ratios says
how much to trust it. ``interleaved`` alternates which side runs first, so
that neither always inherits the other's warm caches (the side that ran
second ran faster: with a fixed order SparseNet-BC-100-24 measured 1.10x its
hand-written model, alternating 0.97x forward and 1.02x backward, in one session).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["Ratio", "gemm_flops", "interleaved", "ratio"]


def interleaved(
    first: Callable[[], float], second: Callable[[], float], pairs: int
) -> list[tuple[float, float]]:
    """``pairs`` timings of each (``first``'s, ``second``'s), the order alternating pair by pair."""
    out = []
    for i in range(pairs):
        if i % 2 == 0:
            a = first()
            b = second()
        else:
            b = second()
            a = first()
        out.append((a, b))
    return out


@dataclass(frozen=True)
class Ratio:
    """Median times of both sides and the median, min and max of the per-pair ratios a / b."""

    a: float
    b: float
    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.2f} ({self.low:.2f}-{self.high:.2f})"


def ratio(pairs: list[tuple[float, float]]) -> Ratio:
    """The summary of interleaved pairs: per-pair ratios, not a ratio of unrelated medians."""
    ratios = [a / b for a, b in pairs]
    return Ratio(
        statistics.median(a for a, _ in pairs),
        statistics.median(b for _, b in pairs),
        statistics.median(ratios),
        min(ratios),
        max(ratios),
    )


def gemm_flops(size: int = 2048, repeats: int = 5) -> float:
    """fp32 FLOP/s of a ``size``-cube matrix product in this process (the best of ``repeats``).

    The best, not the median: it estimates what the hardware can do, against
    which a network's step is a fraction.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # the first call allocates and picks kernels
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best
