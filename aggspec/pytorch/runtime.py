"""The PyTorch pieces a compiled model needs besides ``torch.nn`` itself.

Everything here depends on torch only: the compiler uses these objects
directly, and the standalone-source emitter copies their source text into the
generated file (see ``RUNTIME_DEFINITIONS``), so ``aggspec.build`` and an
emitted ``model.py`` construct and initialise models identically.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["RUNTIME_DEFINITIONS", "WeightedSum", "init_weights"]


class WeightedSum(nn.Module):
    """sum_i sigmoid(w_i) * x_i with one learned scalar per input (RandWire's aggregation)."""

    def __init__(self, inputs: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(inputs))

    def reset_gates(self) -> None:
        nn.init.zeros_(self.weight)  # every input starts at sigmoid(0) = 0.5

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        gates = torch.sigmoid(self.weight)
        out = xs[0] * gates[0]
        for i in range(1, len(xs)):
            out = out + xs[i] * gates[i]
        return out


def init_weights(model: nn.Module, seed: int | None = 0) -> nn.Module:
    """Initialise as the reference implementations do; ``seed`` makes it reproducible.

    Convolutions: He-normal (fan_out, ReLU gain), as torchvision's ResNet.
    BatchNorm: weight 1, bias 0. Linear: PyTorch's default weight, bias 0.
    Learned merge weights: 0 (every input starts at sigmoid(0) = 0.5).
    The global RNG is left untouched.
    """
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(
                    module.weight, mode="fan_out", nonlinearity="relu", generator=generator
                )
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif callable(reset_gates := getattr(module, "reset_gates", None)):
                reset_gates()  # WeightedSum, by duck type: an emitted file defines it only if used
    return model


# What an emitted model.py may need, in the order it defines them: the modules
# registry entries build (TorchCall(runtime=True)) and the functions lowering
# or passes call. A file copies those it uses, and always init_weights. Each
# must need nothing but torch, nn and math, since its source is copied as is.
RUNTIME_DEFINITIONS = (WeightedSum, init_weights)
