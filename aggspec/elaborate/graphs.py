"""The explicit graph form: ``graph(x) { a = x -> steps; b = sum(a, x) -> steps; return b }``.

Each binding names a value computed from an earlier one (or from a merge of
several) in a scope of its own (``graph1.a``); the graph's result is the
``return``ed value, or the last binding. Every value bound must be used.

``for`` and ``if`` run graph lines at elaboration time, as they do steps.
Inside a ``for``, a binding may rebind a name (``h = concat(h, y)``), so a
value can grow turn by turn: the new value replaces the old one for every
later line, and the old one must have been used by then. Outside loops a
name is bound once.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from aggspec.elaborate import control, merging
from aggspec.elaborate.context import Context, NameScope, Value
from aggspec.errors import AggSpecError
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env, evaluate

if TYPE_CHECKING:
    from aggspec.elaborate.elaborator import Elaborator

__all__ = ["graph"]


@dataclass
class _Graph:
    """One graph's state while its lines run: the values bound, and those not yet used."""

    scope: NameScope
    values: dict[str, Value]
    unused: dict[str, s.Binding] = field(default_factory=dict)  # bound, and not yet read
    result: str | None = None

    def use(self, name: s.Name) -> Value:
        value = _lookup_value(name, self.values)
        self.unused.pop(name.id, None)
        return value


def graph(elaborator: Elaborator, step: s.Graph, value: Value, context: Context) -> Value:
    """Elaborate a graph block whose input name is bound to ``value``."""
    state = _Graph(context.scope.child_fresh("graph"), {step.input_name.id: value})
    _lines(elaborator, step.body, state, context.env.child(), context, in_loop=False, top=True)
    if state.result is None:
        raise AggSpecError("a graph needs at least one binding", step.span)
    state.unused.pop(state.result, None)
    for binding in state.unused.values():
        raise AggSpecError(f"value '{binding.name.id}' is never used", binding.name.span)
    return state.values[state.result]


def _lines(
    elaborator: Elaborator,
    lines: tuple[s.GraphLine, ...],
    state: _Graph,
    env: Env,
    context: Context,
    *,
    in_loop: bool,
    top: bool = False,
) -> None:
    for index, line in enumerate(lines):
        if isinstance(line, s.Let):
            env.values[line.name.id] = evaluate(line.value, env)
        elif isinstance(line, s.Return):
            if not top or index != len(lines) - 1:
                raise AggSpecError("'return' must be the last line of a graph", line.span)
            state.use(line.name)
            state.result = line.name.id
        elif isinstance(line, s.GraphFor):
            _for(elaborator, line, state, env, context)
        elif isinstance(line, s.GraphIf):
            _if(elaborator, line, state, env, context, in_loop=in_loop)
        else:
            _binding(elaborator, line, state, env, context, in_loop=in_loop)


def _binding(
    elaborator: Elaborator, line: s.Binding, state: _Graph, env: Env, context: Context, *, in_loop: bool
) -> None:
    name = line.name.id
    again = name in state.values
    if again and not in_loop:
        raise AggSpecError(f"'{name}' is already bound in this graph", line.name.span)
    if again and name in state.unused:
        raise AggSpecError(f"value '{name}' is bound again before it is used", line.name.span)
    # a rebinding's nodes get a scope of their own: graph1.h, graph1.h_1, graph1.h_2, ...
    binding_scope = state.scope.child_fresh(f"{name}_") if again else state.scope.child(name)
    binding_context = replace(context, env=env, scope=binding_scope)
    source = _source(elaborator, line.source, state, binding_scope, binding_context)
    state.values[name] = elaborator.block(line.steps, source, binding_context)
    state.unused[name] = line
    state.result = name


def _for(elaborator: Elaborator, line: s.GraphFor, state: _Graph, env: Env, context: Context) -> None:
    for item in control.loop_items(line.iterable, env):
        elaborator.count_step(line.span)  # a turn that binds nothing still costs time
        bound = control.loop_names(line.targets, line.destructure, item, line.iterable)
        _lines(elaborator, line.body, state, env.child(bound), context, in_loop=True)


def _if(
    elaborator: Elaborator, line: s.GraphIf, state: _Graph, env: Env, context: Context, *, in_loop: bool
) -> None:
    for test, body in line.branches:
        if control.condition(test, env):
            _lines(elaborator, body, state, env.child(), context, in_loop=in_loop)
            return
    if line.orelse is not None:
        _lines(elaborator, line.orelse, state, env.child(), context, in_loop=in_loop)


def _source(
    elaborator: Elaborator,
    source: s.Name | s.MergeSource,
    state: _Graph,
    scope: NameScope,
    context: Context,
) -> Value:
    """The value a binding starts from: a bound name, or a merge of bound names."""
    if isinstance(source, s.Name):
        return state.use(source)
    merge_op = merging.merge_kind(source.merge_kind, context.env)
    inputs = [state.use(name) for name in source.inputs]
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
