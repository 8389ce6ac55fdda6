"""The explicit graph form: ``graph(x) { a = x -> steps; b = sum(a, x) -> steps; return b }``.

Each binding names a value computed from an earlier one (or from a merge of
several) in a scope of its own (``graph1.a``); the graph's result is the
``return``ed value, or the last binding. Every binding must be used.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from aggspec.elaborate import merging
from aggspec.elaborate.context import Context, NameScope, Value
from aggspec.errors import AggSpecError
from aggspec.lang import syntax as s
from aggspec.lang.expressions import evaluate

if TYPE_CHECKING:
    from aggspec.elaborate.elaborator import Elaborator

__all__ = ["graph"]


def graph(elaborator: Elaborator, step: s.Graph, value: Value, context: Context) -> Value:
    """Elaborate a graph block whose input name is bound to ``value``."""
    scope = context.scope.child_fresh("graph")
    env = context.env.child()
    values: dict[str, Value] = {step.input_name.id: value}
    bindings: dict[str, s.Binding] = {}
    used: set[str] = set()
    result: str | None = None
    for index, line in enumerate(step.body):
        if isinstance(line, s.Let):
            env.values[line.name.id] = evaluate(line.value, env)
            continue
        if isinstance(line, s.Return):
            _lookup_value(line.name, values)
            if index != len(step.body) - 1:
                raise AggSpecError("'return' must be the last line of a graph", line.span)
            result = line.name.id
            used.add(result)
            continue
        name = line.name.id
        if name in values:
            raise AggSpecError(f"'{name}' is already bound in this graph", line.name.span)
        binding_scope = scope.child(name)
        binding_context = replace(context, env=env, scope=binding_scope)
        source = _source(elaborator, line.source, values, used, binding_scope, binding_context)
        values[name] = elaborator.block(line.steps, source, binding_context)
        bindings[name] = line
        result = name
    if result is None:
        raise AggSpecError("a graph needs at least one binding", step.span)
    used.add(result)
    for name, binding in bindings.items():
        if name not in used:
            raise AggSpecError(f"value '{name}' is never used", binding.name.span)
    return values[result]


def _source(
    elaborator: Elaborator,
    source: s.Name | s.MergeSource,
    values: Mapping[str, Value],
    used: set[str],
    scope: NameScope,
    context: Context,
) -> Value:
    """The value a binding starts from: a bound name, or a merge of bound names."""
    if isinstance(source, s.Name):
        used.add(source.id)
        return _lookup_value(source, values)
    merge_op = merging.merge_kind(source.merge_kind, context.env)
    inputs = []
    for name in source.inputs:
        used.add(name.id)
        inputs.append(_lookup_value(name, values))
    return merging.merge(
        elaborator,
        merge_op,
        source.merge_kind.project,
        inputs,
        inputs[0].shape,
        node_id=scope.fresh(merge_op.name),
        scope=scope,
        role="graph",
        span=source.span,
        context=context,
        layer=context.layer,
        project_bn=source.merge_kind.project_bn,
    )


def _lookup_value(name: s.Name, values: Mapping[str, Value]) -> Value:
    if name.id not in values:
        close = difflib.get_close_matches(name.id, sorted(values), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise AggSpecError(f"no value named '{name.id}' in this graph{hint}", name.span)
    return values[name.id]
