"""The optimiser and learning-rate schedule of the SparseNet/DenseNet papers.

SGD with Nesterov momentum 0.9 and weight decay 1e-4; the learning rate is
divided by 10 at 50% and 75% of the epochs (``step``), or follows a half
cosine to zero (``cosine``). The rate is a pure function of the epoch, set on
the optimiser at the start of each one, so resuming needs no scheduler
object, only the epoch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SCHEDULES", "learning_rate", "make_optimizer"]

SCHEDULES = ("step", "cosine")
MOMENTUM, WEIGHT_DECAY = 0.9, 1e-4


def learning_rate(schedule: str, base: float, epoch: int, epochs: int) -> float:
    """The rate for 0-based ``epoch`` of ``epochs``.

    >>> [learning_rate("step", 0.1, e, 4) for e in range(4)]
    [0.1, 0.1, 0.01, 0.001]
    >>> learning_rate("cosine", 0.1, 0, 10), round(learning_rate("cosine", 0.1, 5, 10), 6)
    (0.1, 0.05)
    """
    if schedule == "step":
        drops = (epoch >= epochs * 0.5) + (epoch >= epochs * 0.75)
        return base / 10.0**drops
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    raise ValueError(f"unknown schedule {schedule!r}")


def make_optimizer(model: nn.Module, lr: float, *, decay_bn_bias: bool = True) -> torch.optim.SGD:
    """SGD, Nesterov momentum 0.9, weight decay 1e-4.

    With ``decay_bn_bias=False`` one-dimensional parameters (batch-norm scales
    and shifts, biases) get no weight decay, as many modern recipes do; the
    paper decays them all, which is the default.
    """
    if decay_bn_bias:
        groups: list[dict[str, object]] = [{"params": list(model.parameters())}]
    else:
        decayed = [p for p in model.parameters() if p.ndim > 1]
        exempt = [p for p in model.parameters() if p.ndim <= 1]
        groups = [{"params": decayed}, {"params": exempt, "weight_decay": 0.0}]
        groups = [group for group in groups if group["params"]]
    return torch.optim.SGD(groups, lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, nesterov=True)
