"""What a run tells the user while it trains: a live line, epoch summaries, peak memory.

On a terminal, stderr carries one line per epoch that redraws itself (loss,
accuracy, images/s, time left); when stderr is not a terminal (a log file,
CI) the same figures are printed as plain lines at most every
``interval`` seconds, so logs stay readable. Each finished epoch prints one
summary line on stdout.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import TextIO

import torch

__all__ = ["EpochProgress", "format_duration", "peak_memory_bytes", "reset_peak_memory"]


def format_duration(seconds: float) -> str:
    """``75`` -> ``'1:15'``, ``3700`` -> ``'1:01:40'``.

    >>> format_duration(75), format_duration(3700)
    ('1:15', '1:01:40')
    """
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak for the next epoch (on CUDA; the CPU figure cannot be reset)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device) -> int:
    """The epoch's peak memory.

    On CUDA: ``torch.cuda.max_memory_allocated`` since ``reset_peak_memory``,
    the tensors' peak. On CPU: the process's peak resident set size so far
    (``getrusage(RUSAGE_SELF).ru_maxrss``, kilobytes on Linux, bytes on macOS),
    which includes Python and the data and never goes down between epochs.
    """
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class EpochProgress:
    """Running loss and accuracy of one epoch, shown as it goes."""

    def __init__(
        self, epoch: int, epochs: int, steps: int, *, stream: TextIO | None = None, interval: float = 10.0
    ) -> None:
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self.stream = sys.stderr if stream is None else stream
        self.live = self.stream.isatty()
        self.interval = 0.2 if self.live else interval
        self.start = self.last_shown = time.perf_counter()
        self.step = self.images = self.correct = 0
        self.loss_sum = 0.0

    def update(self, loss: float, correct: int, images: int) -> None:
        """Count one batch (its mean loss, correct predictions and size) and maybe redraw."""
        self.step += 1
        self.loss_sum += loss * images
        self.correct += correct
        self.images += images
        now = time.perf_counter()
        if now - self.last_shown >= self.interval or (self.live and self.step == self.steps):
            self.last_shown = now
            self._show(now)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.images, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.images, 1)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def _show(self, now: float) -> None:
        elapsed = now - self.start
        rate = self.images / elapsed if elapsed > 0 else 0.0
        left = elapsed / self.step * (self.steps - self.step)
        text = (
            f"epoch {self.epoch}/{self.epochs} [{self.step}/{self.steps}] loss {self.loss:.4f} "
            f"acc {self.accuracy:.2%} {rate:,.0f} img/s {format_duration(left)} left"
        )
        if self.live:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the live line so later output starts on a fresh one."""
        if self.live and self.step:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
