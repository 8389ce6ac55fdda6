"""Syntax tree to IR: parameters, definitions, loops, stages and merges."""

from __future__ import annotations

from aggspec.elaborate.elaborator import elaborate

__all__ = ["elaborate"]
