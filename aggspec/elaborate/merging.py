"""Merges: naming a merge, combining values, projecting shortcuts; ``join`` and ``residual``.

Every construct that combines values (a stage layer's aggregation and its
emit, ``join``, ``residual``, a merge line of the graph form) goes through
``merge``: one input passes through untouched, two or more become one merge
node, and with ``project`` each input whose shape differs from the target is
first taken there by a 1x1 conv and BN (``project``).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from aggspec.elaborate.context import Context, NameScope, Value
from aggspec.errors import AggSpecError
from aggspec.ir.merges import MERGES, Merge
from aggspec.ir.ops import OPS
from aggspec.ir.shapes import OpError, Shape, format_shape
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env
from aggspec.span import Span

if TYPE_CHECKING:
    from aggspec.elaborate.elaborator import Elaborator

__all__ = ["Projections", "join", "merge", "merge_kind", "project", "residual"]

# A stage's projections, shared by its layers and its emit: each output is
# projected to a given shape once, however many layers read it at that shape.
Projections = dict[tuple[str, Shape], Value]


def _elementwise() -> list[str]:
    return [name for name, entry in MERGES.items() if entry.elementwise]


def merge_kind(kind: s.MergeKind, env: Env) -> Merge:
    """The registered merge a merge clause names (directly, or through a string param)."""
    name = kind.name.id
    if name not in MERGES and name in env:
        bound = env.lookup(name)  # `merge merge` with `param merge = "sum"`
        if isinstance(bound, str):
            name = bound
    entry = MERGES.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, sorted(MERGES), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (merges: {', '.join(MERGES)})"
        raise AggSpecError(f"unknown merge '{name}'{hint}", kind.name.span)
    if kind.project and not entry.elementwise:
        raise AggSpecError(
            f"'project' applies to elementwise merges ({', '.join(_elementwise())}), not '{entry.name}'",
            kind.span,
        )
    return entry


def merge(
    elaborator: Elaborator,
    merge_op: Merge,
    project_inputs: bool,
    inputs: Sequence[Value],
    target: Shape,
    *,
    node_id: str,
    scope: NameScope,
    role: str,
    span: Span,
    context: Context,
    layer: int | None,
    projections: Projections | None = None,
    what: str = "",
    project_bn: bool = True,
) -> Value:
    """Combine ``inputs`` with ``merge_op``; a single input passes through without a merge node.

    With ``project_inputs``, inputs not of the ``target`` shape are projected to it
    first; ``what`` prefixes a shape error with the construct it concerns.
    """
    if len(inputs) == 1:
        return inputs[0]
    if project_inputs:
        inputs = [
            v
            if v.shape == target
            else project(elaborator, v, target, scope, span, context, layer, projections, bn=project_bn)
            for v in inputs
        ]
    try:
        shape = merge_op.output_shape([v.shape for v in inputs])
    except OpError as exc:
        raise AggSpecError(f"{what}{exc}", span) from None
    node = elaborator.add_node(
        node_id,
        scope,
        context,
        kind="merge",
        op=merge_op.name,
        shape=shape,
        span=span,
        role=role,
        layer=layer,
        inputs=tuple(v.node for v in inputs),
    )
    return Value(node, shape)


def project(
    elaborator: Elaborator,
    value: Value,
    target: Shape,
    scope: NameScope,
    span: Span,
    context: Context,
    layer: int | None,
    cache: Projections | None,
    *,
    bn: bool = True,
) -> Value:
    """A 1x1 conv (strided if needed) and BN (unless ``bn`` is false) taking ``value`` to ``target``'s shape.

    With a ``cache`` (a stage's), the nodes are named ``project1``... and
    shared; without (a residual), ``shortcut1``...
    """
    key = (value.node, target)
    if cache is not None and key in cache:
        return cache[key]
    if len(value.shape) != 3 or len(target) != 3:
        raise AggSpecError(
            f"cannot project {format_shape(value.shape)} to {format_shape(target)}: "
            "projection needs feature maps",
            span,
        )
    _, h, w = value.shape
    channels, th, tw = target
    stride = max(-(-h // th), 1)  # ceil: a 1x1 conv with stride s maps h to ceil(h / s)
    if (h - 1) // stride + 1 != th or (w - 1) // stride + 1 != tw:
        raise AggSpecError(
            f"cannot project {format_shape(value.shape)} to {format_shape(target)}: "
            "no 1x1 convolution stride maps one size to the other",
            span,
        )
    project_scope = scope.child_fresh("shortcut" if cache is None else "project")
    conv_op = OPS["conv"]  # every argument the registry gives a conv, defaults resolved
    conv_args = conv_op.resolve_args(conv_op.signature.bind("conv", [channels, 1], {"stride": stride}))
    conv = elaborator.add_node(
        project_scope.fresh("conv"),
        project_scope,
        context,
        kind="op",
        op="conv",
        args=conv_args,
        shape=target,
        span=span,
        role="project",
        layer=layer,
        inputs=(value.node,),
    )
    if not bn:
        projected = Value(conv, target)
        if cache is not None:
            cache[key] = projected
        return projected
    norm = elaborator.add_node(
        project_scope.fresh("bn"),
        project_scope,
        context,
        kind="op",
        op="bn",
        shape=target,
        span=span,
        role="project",
        layer=layer,
        inputs=(conv,),
    )
    projected = Value(norm, target)
    if cache is not None:
        cache[key] = projected
    return projected


def join(elaborator: Elaborator, step: s.Join, value: Value, context: Context) -> Value:
    """``join m { a | b | ... }``: every branch reads ``value``; their results merge in order."""
    merge_op = merge_kind(step.merge_kind, context.env)
    scope = context.scope.child_fresh("join")
    outputs = [
        elaborator.block(branch, value, replace(context, scope=scope.child(f"branch{i}")))
        for i, branch in enumerate(step.branches, start=1)
    ]
    return merge(
        elaborator,
        merge_op,
        step.merge_kind.project,
        outputs,
        outputs[0].shape,
        node_id=scope.fresh(merge_op.name),
        scope=scope,
        role="join",
        span=step.span,
        context=context,
        layer=context.layer,
        what="join: ",
        project_bn=step.merge_kind.project_bn,
    )


def residual(elaborator: Elaborator, step: s.Residual, value: Value, context: Context) -> Value:
    """``residual { body }``: value + body(value), the shortcut projected when asked and needed.

    A residual opens no name scope: its nodes are named beside the body's.
    """
    body = elaborator.block(step.body, value, context)
    if body.shape != value.shape and not step.project:
        raise AggSpecError(
            f"residual body changes the shape from {format_shape(value.shape)} to "
            f"{format_shape(body.shape)}; use 'residual(project)' to project the shortcut",
            step.span,
        )
    shortcut = value
    if body.shape != value.shape:
        shortcut = project(
            elaborator, value, body.shape, context.scope, step.span, context, context.layer, None,
            bn=step.project_bn,
        )  # fmt: skip
    return merge(
        elaborator,
        MERGES["sum"],
        False,
        [shortcut, body],
        body.shape,
        node_id=context.scope.fresh("add"),
        scope=context.scope,
        role="residual",
        span=step.span,
        context=context,
        layer=context.layer,
    )
