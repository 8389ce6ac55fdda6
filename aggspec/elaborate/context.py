"""What elaboration carries from step to step: the current value, node names, the context.

Every construct module reads and extends these; none of them touches the IR
builder's graph directly except through ``Elaborator.add_node``, which turns a
``Context`` into the node attributes the IR documents (stage, stages, layer,
unit, group).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aggspec.ir.shapes import Shape
from aggspec.lang.expressions import Env

__all__ = ["MAX_NOTES", "Context", "NameScope", "Value", "shape_names"]

MAX_NOTES = 4  # call-site notes kept on an error raised deep inside definitions


@dataclass(frozen=True)
class Value:
    """The value flowing through the network: an IR node and its shape."""

    node: str
    shape: Shape


class NameScope:
    """Hands out the dotted node ids: ``stage2.layer7.conv2``.

    All scopes of one network share ``taken``, so a fresh name is unique in
    the whole IR. ``group`` is the top-level construct the scope belongs to
    (the IR's ``group`` attribute): None for the network body's own scope,
    whose every name is a group of its own, else the name of the body-level
    scope it descends from.
    """

    def __init__(self, prefix: str, taken: set[str], group: str | None = None) -> None:
        self.prefix = prefix
        self.taken = taken
        self.group = group
        self.counts: dict[str, int] = {}

    def qualify(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fresh(self, base: str) -> str:
        """``base1``, ``base2``... : the first numbered name not yet used anywhere.

        A base ending in a digit takes an underscore first (``relu6_1``, not ``relu61``).
        """
        joint = "_" if base[-1:].isdigit() else ""
        while True:
            self.counts[base] = self.counts.get(base, 0) + 1
            name = self.qualify(f"{base}{joint}{self.counts[base]}")
            if name not in self.taken:
                self.taken.add(name)
                return name

    def child(self, name: str) -> NameScope:
        qualified = self.qualify(name)
        self.taken.add(qualified)
        return NameScope(qualified, self.taken, self.group or qualified)

    def child_fresh(self, base: str) -> NameScope:
        name = self.fresh(base)
        return NameScope(name, self.taken, self.group or name)

    def group_of(self, node_id: str) -> str:
        """The ``group`` of a node this scope named."""
        return self.group or node_id


@dataclass(frozen=True)
class Context:
    """Where a step runs: its names, its node scope, and which stage, layer and unit it builds.

    ``stage`` is the innermost enclosing stage, ``stages`` all of them
    outermost first; ``unit`` says whether the step belongs to that stage's
    unit (True) or to a layer's aggregation or the stage's emit (False).
    """

    env: Env
    scope: NameScope
    follow_shape: bool  # network level: C, H, W follow the value entering each step
    stage: str | None = None
    stages: tuple[str, ...] = ()
    layer: int | None = None
    unit: bool = False
    position: Mapping[str, int] | None = None  # l and L inside a stage unit
    depth: int = 0  # nested definition calls


def shape_names(shape: Shape) -> dict[str, int]:
    """``C``, ``H``, ``W`` for a shape; a feature vector is C x 1 x 1."""
    if len(shape) == 3:
        return {"C": shape[0], "H": shape[1], "W": shape[2]}
    return {"C": shape[0], "H": 1, "W": 1}
