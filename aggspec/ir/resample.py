"""Resamplers: how a stage that reaches ``across`` earlier stages brings their outputs to one resolution.

A layer that takes outputs of several resolutions (a Log-DenseNet layer
taking features of an earlier, larger block; a U-Net decoder layer taking an
encoder output and a smaller decoder output) must bring them to one before
they merge. Nothing is implicit: the stage's ``across`` clause names a
resampler, and without one differing resolutions are an error.

A resampler chooses the *target* size among the sizes a merge takes
(``pooled``: the smallest, ``upsampled``: the largest) and says which op of
``aggspec.ir.ops.OPS`` brings each other size to it by one whole factor, so
the resampling is ordinary op nodes that the compiler, the analyses and the
drawings already understand. Adding a resampler is one entry in
``RESAMPLERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aggspec.ir.signature import Parameter, Signature
from aggspec.values import show_value

__all__ = ["RESAMPLERS", "ResampleError", "Resampler", "Size"]

Size = tuple[int, int]  # H, W


class ResampleError(Exception):
    """A size the resampler cannot reach the target from, or a bad argument: the spec's mistake."""


@dataclass(frozen=True)
class Resampler:
    """One registry entry.

    ``target`` picks the size every input is brought to; ``step`` returns the
    op (name and arguments, to be resolved by the op's entry) that takes one
    size to the target, or raises ``ResampleError``; ``check`` validates the
    bound arguments once, where the clause is written.
    """

    name: str
    signature: Signature
    target: Callable[[Sequence[Size]], Size]
    step: Callable[[Size, Size, Mapping[str, Any]], tuple[str, dict[str, Any]]]
    check: Callable[[Mapping[str, Any]], None]
    summary: str

    def describe(self, args: Mapping[str, Any]) -> str:
        """The resampler as written with its non-default arguments: ``upsampled(mode="bilinear")``."""
        changed = [p.name for p in self.signature.parameters if args[p.name] != p.default]
        shown = [f"{name}={show_value(args[name])}" for name in changed]
        return f"{self.name}({', '.join(shown)})" if shown else self.name


def _smallest(sizes: Sequence[Size]) -> Size:
    return min(h for h, _ in sizes), min(w for _, w in sizes)


def _largest(sizes: Sequence[Size]) -> Size:
    return max(h for h, _ in sizes), max(w for _, w in sizes)


def _fmt(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


_POOL_MODES = {"avg": "avgpool", "max": "maxpool"}


def _check_pooled(args: Mapping[str, Any]) -> None:
    if args["mode"] not in _POOL_MODES:
        modes = ", ".join(map(repr, _POOL_MODES))
        raise ResampleError(f"pooled mode must be one of {modes}, got {args['mode']!r}")


def _pool_step(size: Size, target: Size, args: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Pooling by one whole factor f with kernel and stride f, as a DenseNet transition pools (floor)."""
    (h, w), (th, tw) = size, target
    factor = h // th
    if factor < 1 or w // tw != factor or h // factor != th or w // factor != tw:
        raise ResampleError(
            f"cannot pool {_fmt(size)} to {_fmt(target)}: pooling needs one whole factor for both sides"
        )
    return _POOL_MODES[args["mode"]], {"k": factor, "stride": factor}


_UPSAMPLE_MODES = ("nearest", "bilinear")


def _check_upsampled(args: Mapping[str, Any]) -> None:
    if args["mode"] not in _UPSAMPLE_MODES:
        raise ResampleError(
            f"upsampled mode must be one of {', '.join(map(repr, _UPSAMPLE_MODES))}, got {args['mode']!r}"
        )
    if args["align_corners"] and args["mode"] != "bilinear":
        raise ResampleError('upsampled align_corners=true needs mode="bilinear"')


def _upsample_step(size: Size, target: Size, args: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Upsampling by one whole scale: the target must be exactly the size times it on both sides."""
    (h, w), (th, tw) = size, target
    scale = th // h
    if h * scale != th or w * scale != tw:
        raise ResampleError(
            f"cannot upsample {_fmt(size)} to {_fmt(target)}: upsampling needs one whole scale for both sides"
        )
    return "upsample", {"scale": scale, "mode": args["mode"], "align_corners": args["align_corners"]}


RESAMPLERS: dict[str, Resampler] = {
    "pooled": Resampler(
        "pooled",
        Signature((Parameter("mode", "str", "avg"),)),
        _smallest,
        _pool_step,
        _check_pooled,
        'pools larger outputs down to the smallest size taken (mode "avg" or "max")',
    ),
    "upsampled": Resampler(
        "upsampled",
        Signature((Parameter("mode", "str", "nearest"), Parameter("align_corners", "bool", False))),
        _largest,
        _upsample_step,
        _check_upsampled,
        'upsamples smaller outputs to the largest size taken (mode "nearest" or "bilinear")',
    ),
}
