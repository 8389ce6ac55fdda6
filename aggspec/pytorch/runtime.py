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

__all__ = ["RUNTIME_DEFINITIONS", "WeightedSum", "init_weights", "recompute"]


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


def recompute(steps: tuple[nn.Module, ...], inputs: list[torch.Tensor], merge: str = "") -> torch.Tensor:
    """``steps`` applied in turn to the merge of ``inputs``, storing for backward only convolutions' results.

    aggspec's memory-efficient mode routes each merge and the pointwise ops
    after it, up to and including the next convolution or linear layer, through
    this function. Plain autograd would keep the merged tensor and each
    pointwise result until the backward pass: for a DenseNet layer, two
    tensors as wide as all its inputs together. Here they are recomputed from
    the inputs, which are kept anyway, when the backward pass needs them;
    selective checkpointing keeps the convolution's (or linear layer's) result,
    so no convolution runs twice. Batch norm recomputes on copies of its
    running statistics: they are updated once per forward pass, as without
    this mode, and the gradients are the same.

    ``merge``: ``"cat"`` (along channels), ``"sum"``, ``"module"`` (the first
    step takes the list) or ``""`` (one input, no merge).
    """
    import functools

    from torch.utils import checkpoint as checkpointing

    first = 1 if merge == "module" else 0
    statistics = ("running_mean", "running_var", "num_batches_tracked")

    def segment(*xs: torch.Tensor, again: bool = False) -> torch.Tensor:
        if merge == "cat":
            y = torch.cat(xs, dim=1)
        elif merge == "sum":
            y = xs[0]
            for x in xs[1:]:
                y = y + x
        elif merge == "module":
            y = steps[0](list(xs))
        else:
            (y,) = xs
        for step in steps[first:]:
            if again and step in spares:  # batch norm, recomputed on throwaway statistics
                kept_stats = [getattr(step, name) for name in statistics]
                for name, spare in zip(statistics, spares[step], strict=True):
                    setattr(step, name, spare)
                try:
                    y = step(y)
                finally:
                    for name, stat in zip(statistics, kept_stats, strict=True):
                        setattr(step, name, stat)
            else:
                y = step(y)
        return y

    spares: dict[nn.Module, tuple[torch.Tensor | None, ...]] = {}
    if not torch.is_grad_enabled():
        return segment(*inputs)
    aten = torch.ops.aten
    kept = (aten.convolution.default, aten.addmm.default, aten.mm.default)

    def policy(ctx: object, op: object, *args: object, **kwargs: object) -> checkpointing.CheckpointPolicy:
        if op in kept:
            return checkpointing.CheckpointPolicy.MUST_SAVE
        return checkpointing.CheckpointPolicy.PREFER_RECOMPUTE

    contexts = functools.partial(checkpointing.create_selective_checkpoint_contexts, policy)
    if torch.compiler.is_compiling():
        # torch.compile recomputes from its functional graph, in which batch
        # norm's statistics are updated once whatever is recomputed
        compiled: torch.Tensor = checkpointing.checkpoint(
            segment, *inputs, use_reentrant=False, context_fn=contexts
        )
        return compiled
    # Throwaway statistics for the recomputation, copied here because selective
    # checkpointing wants the same ops in both runs of the segment.
    for step in steps[first:]:
        if isinstance(step, nn.modules.batchnorm._BatchNorm) and step.training:
            stats = [getattr(step, name) for name in statistics]
            spares[step] = tuple(None if t is None else t.clone() for t in stats)
    runs: list[None] = []

    def run(*xs: torch.Tensor) -> torch.Tensor:
        runs.append(None)  # the first run is the forward pass; any later one recomputes
        return segment(*xs, again=len(runs) > 1)

    result: torch.Tensor = checkpointing.checkpoint(run, *inputs, use_reentrant=False, context_fn=contexts)
    return result


# What an emitted model.py may need, in the order it defines them: the modules
# registry entries build (TorchCall(runtime=True)) and the functions lowering
# or passes call. A file copies those it uses, and always init_weights. Each
# must need nothing but torch, nn and math, since its source is copied as is.
RUNTIME_DEFINITIONS = (WeightedSum, recompute, init_weights)
