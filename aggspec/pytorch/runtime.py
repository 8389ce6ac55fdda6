"""The PyTorch pieces a compiled model needs besides ``torch.nn`` itself.

Everything here depends on torch only: the compiler uses these objects
directly, and the standalone-source emitter copies their source text into the
generated file (see ``RUNTIME_DEFINITIONS``), so ``aggspec.build`` and an
emitted ``model.py`` construct and initialise models identically.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = [
    "RUNTIME_DEFINITIONS",
    "RUNTIME_DEPENDENCIES",
    "ChannelLayerNorm",
    "RecomputedSegment",
    "WeightedSum",
    "init_weights",
    "recompute",
]


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


class ChannelLayerNorm(nn.LayerNorm):
    """Layer normalisation over the channels of a feature map, at each position (ConvNeXt's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N, C, H, W -> N, H, W, C views: layer_norm normalises the last dimension
        y = nn.functional.layer_norm(
            x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps
        )
        return y.permute(0, 3, 1, 2)


def init_weights(model: nn.Module, seed: int | None = 0) -> nn.Module:
    """Initialise as the reference implementations do; ``seed`` makes it reproducible.

    Convolutions, transposed ones too: He-normal (fan_out, ReLU gain), as torchvision's ResNet.
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
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
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
    """``steps`` applied in turn to the merge of ``inputs``, keeping only the inputs for the backward pass.

    aggspec's memory-efficient mode routes each merge and the pointwise ops
    after it, up to and including the next convolution or linear layer (the
    last step), through this function. Plain autograd would keep the merged
    tensor and each pointwise result until the backward pass: for a DenseNet
    layer, two tensors as wide as all its inputs together. Here they are
    recomputed from the inputs, which are kept anyway, when the backward pass
    needs them, and the last layer never runs twice. Batch norm recomputes
    from the batch's statistics alone, so its running statistics move once
    per step, as without this mode; the gradients are the same.

    ``merge``: ``"cat"`` (along channels), ``"sum"``, ``"module"`` (the first
    step takes the list) or ``""`` (one input, no merge).
    """
    *chain, last = steps
    first = 1 if merge == "module" else 0

    def run(*xs: torch.Tensor, again: bool = False) -> torch.Tensor:
        y = chain[0](list(xs)) if merge == "module" else RecomputedSegment.merged(merge, xs)
        for step in chain[first:]:
            if not (again and isinstance(step, nn.modules.batchnorm._BatchNorm) and step.training):
                y = step(y)
            elif type(step) in RecomputedSegment.LOCAL_BATCH_NORMS:
                # Training batch norm normalises by the batch's statistics; without running
                # statistics to update it computes exactly that, and the forward pass has
                # already moved them once.
                y = nn.functional.batch_norm(y, None, None, step.weight, step.bias, True, 0.0, step.eps)
            else:  # SyncBatchNorm's statistics span processes: run it, on throwaway running statistics
                names = ("running_mean", "running_var", "num_batches_tracked")
                kept = [getattr(step, name) for name in names]
                for name, value in zip(names, kept, strict=True):
                    setattr(step, name, None if value is None else value.clone())
                try:
                    y = step(y)
                finally:
                    for name, value in zip(names, kept, strict=True):
                        setattr(step, name, value)
        return y

    if not torch.is_grad_enabled():
        return last(run(*inputs))  # type: ignore[no-any-return]
    if torch.compiler.is_compiling():
        # torch.compile: its partitioner recomputes from the functional graph (in which
        # batch norm's statistics move once), told by selective checkpointing what to keep
        import functools

        from torch.utils import checkpoint as checkpointing

        kept_ops = (
            torch.ops.aten.convolution.default,
            torch.ops.aten.addmm.default,
            torch.ops.aten.mm.default,
        )

        def policy(ctx: object, op: object, *args: object, **kwargs: object) -> object:
            keep = op in kept_ops
            return (
                checkpointing.CheckpointPolicy.MUST_SAVE
                if keep
                else checkpointing.CheckpointPolicy.PREFER_RECOMPUTE
            )

        contexts = functools.partial(checkpointing.create_selective_checkpoint_contexts, policy)
        return checkpointing.checkpoint(  # type: ignore[no-any-return]
            lambda *xs: last(run(*xs)), *inputs, use_reentrant=False, context_fn=contexts
        )
    if any(step._modules for step in steps):
        # A step with submodules (a parametrization such as weight_norm puts its weight in
        # one) has parameters the hand-made backward does not know: recompute the whole
        # segment with PyTorch's checkpoint, the last layer included. Its second run is the
        # recomputation, where batch norm leaves the running statistics alone.
        from torch.utils import checkpoint as checkpointing

        runs = [0]

        def whole(*xs: torch.Tensor) -> torch.Tensor:
            runs[0] += 1
            return last(run(*xs, again=runs[0] > 1))  # type: ignore[no-any-return]

        return checkpointing.checkpoint(  # type: ignore[no-any-return]
            whole, *inputs, use_reentrant=False, determinism_check="none"
        )
    # A step's own parameters directly (a dict read) unless it has submodules: walking
    # parameters() per segment per step is a measurable part of this mode's overhead.
    params = [
        p
        for step in chain
        for p in (step.parameters() if step._modules else step._parameters.values())
        if p is not None
    ]
    own = [p for p in (last.parameters() if last._modules else last._parameters.values()) if p is not None]
    counts = (len(inputs), len(params))
    # The common chain (batch norm and ReLU after a concat, a sum or nothing) is
    # differentiated by hand in the backward pass, without a nested autograd call.
    local = (nn.ReLU, *RecomputedSegment.LOCAL_BATCH_NORMS)
    plain = merge in ("cat", "sum", "") and all(type(s) in local for s in chain)
    segment: torch.Tensor = RecomputedSegment.apply(  # type: ignore[no-untyped-call]
        run, last, counts, (merge, tuple(chain)) if plain else None, *inputs, *params, *own
    )
    return segment


class RecomputedSegment(torch.autograd.Function):
    """``recompute`` in eager mode: forward saves the inputs; backward recomputes, then differentiates.

    Backward reruns the merge and the pointwise ops with autograd on, takes the
    last layer's gradients itself from the recomputed input (PyTorch's own
    ``convolution_backward``, or two products for a linear layer), so that the
    layer never runs twice, and lets autograd carry the input gradient back
    through the recomputed ops. These are the calls autograd makes for the
    plain graph, so the gradients are the same, bit for bit on the CPU. The
    common chain (``by_hand``: a concat, sum or no merge, then batch norms in
    training and ReLUs, without autocast) makes those calls itself, without
    the nested autograd call, whose host time dominated a GPU step.
    """

    # Batch norms whose statistics are the local batch's (not SyncBatchNorm's, which span processes).
    LOCAL_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)

    @staticmethod
    def forward(
        ctx: Any, run: Any, last: Any, counts: tuple[int, int], plain: Any, *tensors: torch.Tensor
    ) -> torch.Tensor:
        """``tensors``: the inputs, the earlier steps' parameters, the last layer's parameters.

        ``plain``: (merge, chain) when the chain is batch norm and ReLU alone, else None.
        """
        inputs = tensors[: counts[0]]
        out: torch.Tensor = last(run(*inputs))
        ctx.run, ctx.last, ctx.counts = run, last, counts
        ctx.params = tensors[counts[0] : counts[0] + counts[1]]  # the parameters themselves, for autograd
        ctx.autocast = [
            (device, torch.get_autocast_dtype(device))
            for device in ("cpu", "cuda")
            if torch.is_autocast_enabled(device)
        ]
        by_hand = plain is not None and not ctx.autocast
        ctx.plain = plain if by_hand and all(s.training for s in plain[1]) else None
        ctx.save_for_backward(*inputs)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        import contextlib

        inputs_count, params_count = ctx.counts
        needs = ctx.needs_input_grad[4 : 4 + inputs_count + params_count]
        if ctx.plain is not None:
            return (None, None, None, None, *RecomputedSegment.by_hand(ctx, grad, needs))
        xs = [x.detach().requires_grad_(need) for x, need in zip(ctx.saved_tensors, needs, strict=False)]
        with torch.enable_grad(), contextlib.ExitStack() as stack:
            for device, dtype in ctx.autocast:
                stack.enter_context(torch.autocast(device, dtype=dtype))
            y = ctx.run(*xs, again=True)
            low = next((dtype for device, dtype in ctx.autocast if device == y.device.type), None)
            seen = y if low is None else y.to(low)  # what the last layer read under autocast
        last = ctx.last
        input_grad, weight_grad, bias_grad = RecomputedSegment.last_backward(last, grad, seen.detach())
        wanted = [t for t, need in zip([*xs, *ctx.params], needs, strict=True) if need]
        found = iter(torch.autograd.grad(seen, wanted, input_grad, allow_unused=True) if wanted else ())
        grads = [next(found) if need else None for need in needs]
        own = [weight_grad.to(last.weight.dtype)]
        if last.bias is not None:
            own.append(bias_grad.to(last.bias.dtype))
        return (None, None, None, None, *grads, *own)

    @staticmethod
    def last_backward(last: nn.Module, grad: torch.Tensor, seen: torch.Tensor) -> list[Any]:
        """The last layer's input, weight and bias gradients from the input it ``seen``, as autograd's.

        The weight in ``seen``'s dtype (autocast's, when it ran under autocast).
        """
        weight: torch.Tensor = last.weight.to(seen.dtype)  # type: ignore[assignment]
        if isinstance(last, nn.Conv2d):
            bias_sizes = None if last.bias is None else [last.bias.shape[0]]
            return list(torch.ops.aten.convolution_backward(
                grad, seen, weight, bias_sizes, list(last.stride), list(last.padding),
                list(last.dilation), False, [0, 0], last.groups, [True, True, last.bias is not None],
            ))  # fmt: skip
        flat = grad.reshape(-1, grad.shape[-1])  # nn.Linear
        return [
            grad.matmul(weight),
            flat.t().mm(seen.reshape(-1, seen.shape[-1])),
            None if last.bias is None else flat.sum(0),
        ]

    @staticmethod
    def merged(merge: str, xs: Any) -> torch.Tensor:
        """The merge of ``xs`` along channels (``"cat"``), by sum (``"sum"``), or the one input (``""``)."""
        if merge == "cat":
            return torch.cat(xs, dim=1)
        if merge == "sum":
            y = xs[0]
            for x in xs[1:]:
                y = y + x
            return y  # type: ignore[no-any-return]
        (y,) = xs
        return y  # type: ignore[no-any-return]

    @staticmethod
    def by_hand(ctx: Any, grad: torch.Tensor, needs: Any) -> list[Any]:
        """The gradients of a concat or sum, batch norms and ReLUs, and the last layer, without autograd.

        The calls are autograd's own for these ops: batch norm through
        ``_batch_norm_impl_index`` and its backward (cuDNN's kernels on a GPU,
        as ``nn.BatchNorm2d`` picks them), ReLU through ``threshold_backward``,
        a concat's gradient sliced by ``narrow``, a sum's passed whole.
        """
        merge, chain = ctx.plain
        xs = ctx.saved_tensors
        with torch.no_grad():
            y = RecomputedSegment.merged(merge, xs)
            records: list[tuple[Any, torch.Tensor, torch.Tensor, Any]] = []  # step, in, out, statistics
            for step in chain:
                if isinstance(step, nn.ReLU):
                    out = torch.relu(y)
                    records.append((step, y, out, None))
                else:
                    out, mean, invstd, reserve, index = torch.ops.aten._batch_norm_impl_index(
                        y, step.weight, step.bias, None, None, True, 0.0, step.eps,
                        torch.backends.cudnn.enabled,
                    )  # fmt: skip
                    records.append((step, y, out, (mean, invstd, reserve, index)))
                y = out
            last = ctx.last
            g, weight_grad, bias_grad = RecomputedSegment.last_backward(last, grad, y)
            step_grads: list[Any] = []
            for step, x, out, saved in reversed(records):
                if saved is None:
                    g = torch.ops.aten.threshold_backward(g, out, 0)
                    continue
                mean, invstd, reserve, index = saved
                affine = step.weight is not None
                g, gw, gb = torch.ops.aten._batch_norm_impl_index_backward(
                    index, x, g, step.weight, None, None, mean, invstd, True, step.eps,
                    [True, affine, affine], reserve,
                )  # fmt: skip
                step_grads[:0] = [gw, gb] if affine else []
            if merge == "cat":
                offsets = [0]
                for x in xs:
                    offsets.append(offsets[-1] + x.shape[1])
                input_grads = [g.narrow(1, offsets[i], x.shape[1]) for i, x in enumerate(xs)]
            else:
                input_grads = [g] * len(xs)
        own = [weight_grad] + ([bias_grad] if last.bias is not None else [])
        everything = [*input_grads, *step_grads]
        return [grad_ if need else None for grad_, need in zip(everything, needs, strict=True)] + own


# What an emitted model.py may need, in the order it defines them: the modules
# registry entries build (TorchCall(runtime=True)) and the functions lowering
# or passes call. A file copies those it uses, and always init_weights. Each
# must need nothing but torch, nn and math, since its source is copied as is.
RUNTIME_DEFINITIONS = (WeightedSum, ChannelLayerNorm, recompute, RecomputedSegment, init_weights)
# Definitions that others call, so a file that uses the first copies the rest too.
RUNTIME_DEPENDENCIES = {"recompute": ("RecomputedSegment",)}
