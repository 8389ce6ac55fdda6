"""A model's training step as every benchmark times it: forward (autocast), cross-entropy, backward, SGD.

The optimiser is the paper's SGD (Nesterov momentum 0.9, weight decay 1e-4),
so its state (one momentum buffer per parameter) is part of what a step holds.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TrainingStep"]


class TrainingStep:
    """``model`` on ``device`` (in channels-last layout, compiled, under autocast ``amp`` if asked)."""

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device,
        amp: torch.dtype | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4
        )
        self.amp = amp
        self.runner: Any = torch.compile(self.model) if compile else self.model

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        autocast = (
            torch.autocast(self.device.type, dtype=self.amp)
            if self.amp is not None
            else contextlib.nullcontext()
        )
        with autocast:
            loss = F.cross_entropy(self.runner(x).float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def seconds(self, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
        """Seconds per step over ``steps`` steps, a GPU synchronised at both ends."""
        self._synchronise()
        start = time.perf_counter()
        for _ in range(steps):
            self(x, y)
        self._synchronise()
        return (time.perf_counter() - start) / steps

    def _synchronise(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
