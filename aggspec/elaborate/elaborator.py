"""Syntax tree to IR: the driver, which owns the state of one elaboration.

Elaboration walks the network body with a *current value* (an IR node and its
shape). Each op call adds a node fed by the current value; a stage adds L
units, each fed by the merge of the earlier outputs its take rule names;
``join``, ``residual`` and ``graph`` add their branches and a merge. Every
check that depends on values (argument types, shapes, sizes) happens here and
fails with an ``AggSpecError`` at the source of the offending construct.

This module holds what every construct shares: the declarations (params,
lets, definitions), the network, the step loop with ``for`` and ``if``, and
``Elaborator.add_node``. The constructs themselves live beside it, one module
each, as functions taking the ``Elaborator`` first: ``calls`` (ops and
definition calls), ``merging`` (merges, projection, join, residual),
``stages`` and ``connectivity`` (stages and their rules), ``graphs`` (the
explicit graph form).

Names bound while elaborating:
  * ``param`` and top-level ``let`` values, visible everywhere;
  * a definition's arguments, inside its body;
  * ``l`` and ``L`` inside a stage's unit and every definition it calls, and
    ``L`` in the stage's rule arguments (``j`` too, in a ``where`` condition);
  * ``C``, ``H``, ``W``: the shape of the value entering the enclosing
    definition or unit; in a network body (outside any definition), of the
    value entering each step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import networkx as nx

from aggspec.elaborate import calls, control, graphs, merging, stages
from aggspec.elaborate.context import Context, NameScope, Value, shape_names
from aggspec.errors import AggSpecError, deep_recursion
from aggspec.ir import IRBuilder, Limits, StageInfo, verify
from aggspec.ir.ops import OPS
from aggspec.ir.shapes import Shape
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env, Work, evaluate
from aggspec.lang.params import Override, check_default, check_override, check_type_names, unknown_overrides
from aggspec.span import Span
from aggspec.values import show_value

__all__ = ["Elaborator", "elaborate"]


def elaborate(
    module: s.Module,
    overrides: Sequence[Override] = (),
    *,
    limits: Limits | None = None,
) -> nx.MultiDiGraph:
    """Build the IR of the module's network, with parameter ``overrides`` applied."""
    try:
        with deep_recursion("the network"):
            return Elaborator(module, limits or Limits()).run(overrides)
    except AggSpecError as exc:
        raise exc.located(module.filename, module.source) from None


class Elaborator:
    """One elaboration of one module: the state every construct module reads and extends."""

    def __init__(self, module: s.Module, limits: Limits) -> None:
        self.module = module
        self.limits = limits
        self.builder = IRBuilder(limits)
        self.globals = Env(work=Work(limits.max_work))
        self.params: dict[str, Any] = {}
        self.defs: dict[str, s.Def] = {}
        self.stages: list[StageInfo] = []
        self.steps = 0
        self.reached = 0  # outputs indexed by across clauses, summed over stages (bounded)

    # ------------------------------------------------------------ declarations

    def run(self, overrides: Sequence[Override]) -> nx.MultiDiGraph:
        by_name = {o.name: o for o in overrides}
        declared = [d.name.id for d in self.module.declarations if isinstance(d, s.Param)]
        unknown_overrides(by_name, declared)
        network: s.Network | None = None
        for decl in self.module.declarations:
            if isinstance(decl, (s.Param, s.Let)):
                self._define_global(decl, by_name)
            elif isinstance(decl, s.Def):
                self._define_def(decl)
            elif network is not None:
                raise AggSpecError(
                    f"a file describes one network; '{network.name.id}' is already "
                    f"declared on line {network.span.line}",
                    decl.name.span,
                )
            else:
                network = decl
        if network is None:  # pointed just after the last text, where one would go
            lines = self.module.source.rstrip().split("\n")
            end = Span(len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
            raise AggSpecError("no network declared (add 'network Name(input CxHxW) { ... }')", end)
        return self._network(network)

    def _define_global(self, decl: s.Param | s.Let, overrides: Mapping[str, Override]) -> None:
        name = decl.name.id
        if name in self.globals:
            raise AggSpecError(f"'{name}' is already defined", decl.name.span)
        if isinstance(decl, s.Let):
            self.globals.values[name] = evaluate(decl.value, self.globals)
            return
        check_type_names(decl)
        default = check_default(decl, evaluate(decl.default, self.globals))
        value = check_override(decl, default, overrides[name]) if name in overrides else default
        self.globals.values[name] = value
        self.params[name] = value

    def _define_def(self, decl: s.Def) -> None:
        name = decl.name.id
        if name in OPS:
            raise AggSpecError(f"'{name}' is a built-in op and cannot be redefined", decl.name.span)
        if name in self.defs:
            previous = self.defs[name].span.line
            raise AggSpecError(f"'{name}' is already defined on line {previous}", decl.name.span)
        self.defs[name] = decl

    def _network(self, network: s.Network) -> nx.MultiDiGraph:
        dims = [evaluate(e, self.globals) for e in network.input_shape]
        for dim, expr in zip(dims, network.input_shape, strict=False):
            if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
                raise AggSpecError(
                    f"input dimensions must be positive ints, got {show_value(dim)}", expr.span
                )
        if len(dims) not in (1, 3):
            raise AggSpecError(
                f"input shape needs 3 dimensions (CxHxW) or 1 (features), got {len(dims)}",
                network.span,
            )
        taken: set[str] = {"input"}
        root = NameScope("", taken)
        input_node = self.builder.add_node(
            "input",
            kind="input",
            op="input",
            shape=tuple(dims),
            span=network.span,
            role="input",
            group="input",
        )
        context = Context(Env(parent=self.globals), root, follow_shape=True)
        result = self.block(network.body, Value(input_node, tuple(dims)), context)
        graph = self.builder.graph
        graph.graph.update(
            name=network.name.id,
            filename=self.module.filename,
            input=input_node,
            output=result.node,
            params=dict(self.params),
            stages=list(self.stages),
        )
        verify(graph)
        return graph

    # ------------------------------------------------------------ nodes

    def add_node(
        self,
        node_id: str,
        scope: NameScope,
        context: Context,
        *,
        kind: str,
        op: str,
        shape: Shape,
        span: Span,
        role: str,
        layer: int | None,
        args: dict[str, Any] | None = None,
        inputs: tuple[str, ...] = (),
    ) -> str:
        """Add a node that ``scope`` named, placed in the IR by ``context``.

        ``layer`` is explicit because a stage's emit merge has none although
        its context may sit inside an outer stage's layer.
        """
        return self.builder.add_node(
            node_id,
            kind=kind,
            op=op,
            args=args,
            shape=shape,
            span=span,
            role=role,
            group=scope.group_of(node_id),
            stage=context.stage,
            stages=context.stages,
            layer=layer,
            unit=context.unit,
            inputs=inputs,
        )

    # ------------------------------------------------------------ steps

    def block(self, block: s.Block, value: Value, context: Context) -> Value:
        """Run a block's steps in a child scope of names; the value threads through them."""
        context = replace(context, env=context.env.child())
        for step in block.steps:
            if context.follow_shape:
                context.env.values.update(shape_names(value.shape))
            value = self._step(step, value, context)
        return value

    def _step(self, step: s.Step, value: Value, context: Context) -> Value:
        self.count_step(step.span)
        if isinstance(step, s.Let):
            context.env.values[step.name.id] = evaluate(step.value, context.env)
            return value
        if isinstance(step, s.Call):
            return calls.call(self, step, value, context)
        if isinstance(step, s.For):
            return self._for(step, value, context)
        if isinstance(step, s.If):
            return self._if(step, value, context)
        if isinstance(step, s.Stage):
            return stages.stage(self, step, value, context)
        if isinstance(step, s.Join):
            return merging.join(self, step, value, context)
        if isinstance(step, s.Residual):
            return merging.residual(self, step, value, context)
        return graphs.graph(self, step, value, context)

    def count_step(self, span: Span) -> None:
        """One more elaboration step; past ``Limits.max_steps`` a located error."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise AggSpecError(
                f"elaboration runs more than {self.limits.max_steps:,} steps (a loop that never ends?)", span
            )

    def _for(self, step: s.For, value: Value, context: Context) -> Value:
        items = control.loop_items(step.iterable, context.env)
        # Each iteration adds at least one node per op applied directly in the body:
        # refuse a loop that must pass the layer limit before it runs, not thousands
        # of layers into it.
        self.builder.reserve(len(items) * self._ops_in(step.body), step.span)
        for item in items:
            self.count_step(step.span)  # an iteration whose body builds nothing still costs time
            if not step.body.steps and not step.destructure:
                continue  # nothing to bind or run: only the count
            bound = control.loop_names(step.targets, step.destructure, item, step.iterable)
            value = self.block(step.body, value, replace(context, env=context.env.child(bound)))
        return value

    def _ops_in(self, block: s.Block) -> int:
        """The op applications a block surely makes: its direct calls of ops (not of definitions)."""
        return sum(
            1
            for step in block.steps
            if isinstance(step, s.Call) and step.name.id not in self.defs and step.name.id in OPS
        )

    def _if(self, step: s.If, value: Value, context: Context) -> Value:
        for test, body in step.branches:
            if control.condition(test, context.env):
                return self.block(body, value, context)
        if step.orelse is not None:
            return self.block(step.orelse, value, context)
        return value
