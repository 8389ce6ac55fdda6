"""What several hand-written references share: a stem, a sequence of stages, then global pooling and a classifier."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class StagesClassifier(nn.Module):
    """``forward``: ``fc(gap(stages(stem(x))))``; a subclass sets ``stem``, ``stages`` and ``fc``."""

    stem: nn.Module
    stages: nn.Module
    fc: nn.Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
