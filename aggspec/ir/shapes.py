"""Shapes of values in the IR, and the error a shape rule raises.

Shapes exclude the batch: ``(C, H, W)`` for feature maps, ``(F,)`` for
features. Every registry (ops, merges) and the IR itself speak these types;
they live here so that none of them imports another for a type alias.
"""

from __future__ import annotations

__all__ = ["OpError", "Shape", "format_shape"]

Shape = tuple[int, ...]


class OpError(Exception):
    """The op or merge cannot be applied to this input with these arguments."""


def format_shape(shape: Shape) -> str:
    """``(3, 32, 32)`` as ``3x32x32``.

    >>> format_shape((3, 32, 32))
    '3x32x32'
    """
    return "x".join(str(d) for d in shape)
