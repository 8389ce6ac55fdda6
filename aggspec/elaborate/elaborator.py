"""Syntax tree to IR: evaluate parameters, expand definitions, loops and stages.

Elaboration walks the network body with a *current value* (an IR node and its
shape). Each op call adds a node fed by the current value; a stage adds L
units, each fed by the merge of the earlier outputs its take rule names;
``join``, ``residual`` and ``graph`` add their branches and a merge. Every
check that depends on values (argument types, shapes, sizes) happens here and
fails with an ``AggSpecError`` at the source of the offending construct.

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

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import networkx as nx

from aggspec.errors import AggSpecError, Note, deep_recursion
from aggspec.ir import IRBuilder, Limits, StageInfo, validate
from aggspec.ir.merges import MERGES, Merge
from aggspec.ir.ops import OPS
from aggspec.ir.rules import EMIT_RULES, TAKE_RULES, RuleError, TakeAtEnd, Where
from aggspec.ir.shapes import OpError, Shape, format_shape
from aggspec.ir.signature import Signature, SignatureError
from aggspec.lang import syntax as s
from aggspec.lang.expressions import FUNCTIONS, Env, evaluate, source_text
from aggspec.lang.params import Override, check_default, check_override, check_type_names, unknown_overrides
from aggspec.values import show_value, type_name

__all__ = ["elaborate"]

_MAX_NOTES = 4  # call-site notes kept on an error raised deep inside definitions
_ELEMENTWISE = [name for name, merge in MERGES.items() if merge.elementwise]


@dataclass(frozen=True)
class Value:
    """The value flowing through the network: an IR node and its shape."""

    node: str
    shape: Shape


class NameScope:
    """Hands out the dotted node ids: ``stage2.layer7.conv2``."""

    def __init__(self, prefix: str, taken: set[str]) -> None:
        self.prefix = prefix
        self.taken = taken
        self.counts: dict[str, int] = {}

    def qualify(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fresh(self, base: str) -> str:
        """``base1``, ``base2``... : the first numbered name not yet used anywhere."""
        while True:
            self.counts[base] = self.counts.get(base, 0) + 1
            name = self.qualify(f"{base}{self.counts[base]}")
            if name not in self.taken:
                self.taken.add(name)
                return name

    def child(self, name: str) -> NameScope:
        qualified = self.qualify(name)
        self.taken.add(qualified)
        return NameScope(qualified, self.taken)

    def child_fresh(self, base: str) -> NameScope:
        return NameScope(self.fresh(base), self.taken)


@dataclass(frozen=True)
class Context:
    env: Env
    scope: NameScope
    follow_shape: bool  # network level: C, H, W follow the value entering each step
    stage: str | None = None
    layer: int | None = None
    position: Mapping[str, int] | None = None  # l and L inside a stage unit
    depth: int = 0  # nested definition calls


def elaborate(
    module: s.Module,
    overrides: Sequence[Override] = (),
    *,
    limits: Limits | None = None,
) -> nx.MultiDiGraph:
    """Build the IR of the module's network, with parameter ``overrides`` applied."""
    try:
        with deep_recursion("the network"):
            return _Elaborator(module, limits or Limits()).run(overrides)
    except AggSpecError as exc:
        raise exc.located(module.filename, module.source) from None


class _Elaborator:
    def __init__(self, module: s.Module, limits: Limits) -> None:
        self.module = module
        self.limits = limits
        self.builder = IRBuilder(limits)
        self.globals = Env()
        self.params: dict[str, Any] = {}
        self.defs: dict[str, s.Def] = {}
        self.stages: list[StageInfo] = []
        self.steps = 0

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
        if network is None:
            raise AggSpecError("no network declared (add 'network Name(input CxHxW) { ... }')")
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
            "input", kind="input", op="input", shape=tuple(dims), span=network.span, role="input"
        )
        context = Context(Env(parent=self.globals), root, follow_shape=True)
        result = self._block(network.body, Value(input_node, tuple(dims)), context)
        graph = self.builder.graph
        graph.graph.update(
            name=network.name.id,
            filename=self.module.filename,
            input=input_node,
            output=result.node,
            params=dict(self.params),
            stages=list(self.stages),
        )
        validate(graph)
        return graph

    # ------------------------------------------------------------ steps

    def _block(self, block: s.Block, value: Value, context: Context) -> Value:
        context = replace(context, env=context.env.child())
        for step in block.steps:
            if context.follow_shape:
                context.env.values.update(_shape_names(value.shape))
            value = self._step(step, value, context)
        return value

    def _step(self, step: s.Step, value: Value, context: Context) -> Value:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise AggSpecError(
                f"elaboration runs more than {self.limits.max_steps:,} steps (a loop that never ends?)",
                step.span,
            )
        if isinstance(step, s.Let):
            context.env.values[step.name.id] = evaluate(step.value, context.env)
            return value
        if isinstance(step, s.Call):
            return self._call(step, value, context)
        if isinstance(step, s.For):
            return self._for(step, value, context)
        if isinstance(step, s.If):
            return self._if(step, value, context)
        if isinstance(step, s.Stage):
            return self._stage(step, value, context)
        if isinstance(step, s.Join):
            return self._join(step, value, context)
        if isinstance(step, s.Residual):
            return self._residual(step, value, context)
        return self._graph(step, value, context)

    def _for(self, step: s.For, value: Value, context: Context) -> Value:
        items = evaluate(step.iterable, context.env)
        if not isinstance(items, tuple):
            raise AggSpecError(
                f"'for' needs a list to loop over, got {type_name(items)} {show_value(items)}",
                step.iterable.span,
            )
        for item in items:
            if step.destructure:
                if not isinstance(item, tuple) or len(item) != len(step.targets):
                    raise AggSpecError(
                        f"cannot unpack {show_value(item)} into {len(step.targets)} names",
                        step.iterable.span,
                    )
                bound = {t.id: v for t, v in zip(step.targets, item, strict=False)}
            else:
                bound = {step.targets[0].id: item}
            value = self._block(step.body, value, replace(context, env=context.env.child(bound)))
        return value

    def _if(self, step: s.If, value: Value, context: Context) -> Value:
        for test, body in step.branches:
            condition = evaluate(test, context.env)
            if not isinstance(condition, bool):
                raise AggSpecError(
                    f"condition must be true or false, got {type_name(condition)} {show_value(condition)}",
                    test.span,
                )
            if condition:
                return self._block(body, value, context)
        if step.orelse is not None:
            return self._block(step.orelse, value, context)
        return value

    # ------------------------------------------------------------ calls

    def _call(self, call: s.Call, value: Value, context: Context, scope: NameScope | None = None) -> Value:
        name = call.name.id
        if name in self.defs:
            return self._call_def(call, value, context, scope)
        if name in OPS:
            return self._apply_op(call, value, context, scope or context.scope)
        raise AggSpecError(self._unknown_callable(name), call.name.span)

    def _unknown_callable(self, name: str) -> str:
        if name in MERGES:
            return f"'{name}' is a merge, not an op; combine branches with 'join {name} {{ a | b }}'"
        if name in FUNCTIONS:
            return f"'{name}' is a function of values; it cannot be applied as an op"
        close = difflib.get_close_matches(name, sorted({*OPS, *self.defs}), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown op or definition '{name}'{hint}"

    def _arguments(self, call: s.Call | s.NamedRule, env: Env) -> tuple[list[Any], dict[str, Any]]:
        args = [evaluate(a, env) for a in call.args]
        kwargs = {k.name: evaluate(k.value, env) for k in call.kwargs}
        return args, kwargs

    def _bind(self, signature: Signature, owner: str, call: s.Call | s.NamedRule, env: Env) -> dict[str, Any]:
        args, kwargs = self._arguments(call, env)
        try:
            return signature.bind(owner, args, kwargs)
        except SignatureError as exc:
            raise AggSpecError(exc.message, _argument_span(call, exc.argument)) from None

    def _apply_op(self, call: s.Call, value: Value, context: Context, scope: NameScope) -> Value:
        op = OPS[call.name.id]
        args = op.resolve_args(self._bind(op.signature, call.name.id, call, context.env))
        try:
            shape = op.infer_shape(value.shape, args)
        except OpError as exc:
            raise AggSpecError(str(exc), call.span) from None
        node = self.builder.add_node(
            scope.fresh(op.name),
            kind="op",
            op=op.name,
            args=args,
            shape=shape,
            span=call.span,
            role="op",
            stage=context.stage,
            layer=context.layer,
            inputs=(value.node,),
        )
        return Value(node, shape)

    def _call_def(self, call: s.Call, value: Value, context: Context, scope: NameScope | None) -> Value:
        definition = self.defs[call.name.id]
        if context.depth >= self.limits.max_recursion:
            raise AggSpecError(
                f"definitions nest deeper than {self.limits.max_recursion} calls "
                f"(unbounded recursion in '{call.name.id}'?)",
                call.span,
            )
        bound = self._bind_formals(definition, call, context.env)
        env = Env(
            {**bound, **_shape_names(value.shape)},
            parent=Env(dict(context.position or {}), parent=self.globals),
        )
        inner = replace(
            context,
            env=env,
            scope=scope or context.scope.child_fresh(definition.name.id),
            follow_shape=False,
            depth=context.depth + 1,
        )
        try:
            return self._block(definition.body, value, inner)
        except AggSpecError as exc:
            if len(exc.notes) >= _MAX_NOTES:
                raise
            note = Note(f"in '{call.name.id}' called here", call.span)
            if exc.notes and exc.notes[-1] == note:  # recursion: say it once
                raise
            raise exc.with_note(note) from None

    def _bind_formals(self, definition: s.Def, call: s.Call, env: Env) -> dict[str, Any]:
        formals = definition.formals
        name = definition.name.id
        if len(call.args) > len(formals):
            raise AggSpecError(
                f"'{name}' takes {len(formals)} argument{'s' if len(formals) != 1 else ''}, "
                f"got {len(call.args)}",
                call.args[len(formals)].span,
            )
        args, kwargs = self._arguments(call, env)
        bound = {f.name.id: v for f, v in zip(formals, args, strict=False)}
        names = {f.name.id for f in formals}
        for keyword in call.kwargs:
            if keyword.name not in names:
                raise AggSpecError(f"'{name}' has no argument '{keyword.name}'", keyword.span)
            if keyword.name in bound:
                raise AggSpecError(f"'{name}' got argument '{keyword.name}' twice", keyword.span)
            bound[keyword.name] = kwargs[keyword.name]
        for formal in formals:
            if formal.name.id not in bound:
                if formal.default is None:
                    raise AggSpecError(f"'{name}' needs argument '{formal.name.id}'", call.span)
                bound[formal.name.id] = evaluate(formal.default, self.globals)
        return bound

    # ------------------------------------------------------------ merges

    def _merge_kind(self, kind: s.MergeKind, env: Env) -> Merge:
        name = kind.name.id
        if name not in MERGES and name in env:
            bound = env.lookup(name)  # `merge merge` with `param merge = "sum"`
            if isinstance(bound, str):
                name = bound
        merge = MERGES.get(name)
        if merge is None:
            close = difflib.get_close_matches(name, sorted(MERGES), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (merges: {', '.join(MERGES)})"
            raise AggSpecError(f"unknown merge '{name}'{hint}", kind.name.span)
        if kind.project and not merge.elementwise:
            raise AggSpecError(
                f"'project' applies to elementwise merges ({', '.join(_ELEMENTWISE)}), not '{merge.name}'",
                kind.span,
            )
        return merge

    def _merge(
        self,
        merge: Merge,
        project: bool,
        inputs: Sequence[Value],
        target: Shape,
        *,
        node_id: str,
        scope: NameScope,
        role: str,
        span: s.Span,
        context: Context,
        layer: int | None,
        projections: dict[tuple[str, Shape], Value] | None = None,
        what: str = "",
    ) -> Value:
        """Combine ``inputs``; a single input passes through without a merge node."""
        if len(inputs) == 1:
            return inputs[0]
        if project:
            inputs = [
                v if v.shape == target else self._project(v, target, scope, span, context, layer, projections)
                for v in inputs
            ]
        try:
            shape = merge.output_shape([v.shape for v in inputs])
        except OpError as exc:
            raise AggSpecError(f"{what}{exc}", span) from None
        node = self.builder.add_node(
            node_id,
            kind="merge",
            op=merge.name,
            shape=shape,
            span=span,
            role=role,
            stage=context.stage,
            layer=layer,
            inputs=tuple(v.node for v in inputs),
        )
        return Value(node, shape)

    def _project(
        self,
        value: Value,
        target: Shape,
        scope: NameScope,
        span: s.Span,
        context: Context,
        layer: int | None,
        cache: dict[tuple[str, Shape], Value] | None,
    ) -> Value:
        """A 1x1 conv (strided if needed) and BN taking ``value`` to ``target``'s shape."""
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
        conv_args = {"out": channels, "k": 1, "stride": stride, "groups": 1, "bias": False}
        conv = self.builder.add_node(
            project_scope.fresh("conv"),
            kind="op",
            op="conv",
            args=conv_args,
            shape=target,
            span=span,
            role="project",
            stage=context.stage,
            layer=layer,
            inputs=(value.node,),
        )
        bn = self.builder.add_node(
            project_scope.fresh("bn"),
            kind="op",
            op="bn",
            shape=target,
            span=span,
            role="project",
            stage=context.stage,
            layer=layer,
            inputs=(conv,),
        )
        projected = Value(bn, target)
        if cache is not None:
            cache[key] = projected
        return projected

    # ------------------------------------------------------------ join, residual

    def _join(self, step: s.Join, value: Value, context: Context) -> Value:
        merge = self._merge_kind(step.merge_kind, context.env)
        scope = context.scope.child_fresh("join")
        outputs = [
            self._block(branch, value, replace(context, scope=scope.child(f"branch{i}")))
            for i, branch in enumerate(step.branches, start=1)
        ]
        return self._merge(
            merge,
            step.merge_kind.project,
            outputs,
            outputs[0].shape,
            node_id=scope.fresh(merge.name),
            scope=scope,
            role="join",
            span=step.span,
            context=context,
            layer=context.layer,
            what="join: ",
        )

    def _residual(self, step: s.Residual, value: Value, context: Context) -> Value:
        body = self._block(step.body, value, context)
        if body.shape != value.shape and not step.project:
            raise AggSpecError(
                f"residual body changes the shape from {format_shape(value.shape)} to "
                f"{format_shape(body.shape)}; use 'residual(project)' to project the shortcut",
                step.span,
            )
        shortcut = value
        if body.shape != value.shape:
            shortcut = self._project(
                value, body.shape, context.scope, step.span, context, context.layer, None
            )
        return self._merge(
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

    # ------------------------------------------------------------ stages

    def _stage(self, step: s.Stage, value: Value, context: Context) -> Value:
        length = evaluate(step.count, context.env)
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise AggSpecError(
                f"a stage needs a positive int number of layers, got {show_value(length)}",
                step.count.span,
            )
        self.builder.reserve(length, step.span)
        scope = context.scope.child_fresh("stage")
        stage_env = context.env.child({"L": length})
        take_rule = self._take_rule(step.take, stage_env)
        takes = self._takes(take_rule, length, step, scope.prefix)
        merge_clause = step.merge
        merge = self._merge_kind(merge_clause.merge_kind, stage_env) if merge_clause else MERGES["concat"]
        project = bool(merge_clause and merge_clause.merge_kind.project)
        emit_rule, emit_merge, emit_project = self._emit_rule(step.emit, stage_env, merge, project)
        try:
            emits = emit_rule.emit(length, takes)
        except RuleError as exc:
            raise AggSpecError(str(exc), step.emit.span if step.emit else step.span) from None
        if not emits:
            raise AggSpecError("the emit rule selects no outputs", step.emit.span if step.emit else step.span)

        stage_context = replace(context, stage=scope.prefix, follow_shape=False)
        projections: dict[tuple[str, Shape], Value] = {}
        outputs = [value]
        unit_descriptions: list[str] = []
        for l in range(1, length + 1):
            layer_scope = scope.child(f"layer{l}")
            position = {"l": l, "L": length}
            layer_context = replace(
                stage_context, env=stage_env.child({"l": l}), layer=l, position=position, scope=layer_scope
            )
            taken = [outputs[j] for j in takes[l - 1]]
            newest = outputs[max(takes[l - 1])]
            merged = self._merge(
                merge,
                project,
                taken,
                newest.shape,
                node_id=layer_scope.fresh(merge.name),
                scope=layer_scope,
                role="aggregate",
                span=step.span,
                context=layer_context,
                layer=l,
                projections=projections,
                what=f"layer {l} of {scope.prefix}: ",
            )
            if merge_clause and merge_clause.post.steps and len(taken) > 1:
                post_env = layer_context.env.child(_shape_names(merged.shape))
                merged = self._block(merge_clause.post, merged, replace(layer_context, env=post_env))
            unit_context = replace(layer_context, env=layer_context.env.child(_shape_names(merged.shape)))
            try:
                if isinstance(step.unit, s.Call):
                    unit_descriptions.append(self._describe_call(step.unit, unit_context.env))
                    output = self._call(step.unit, merged, unit_context, scope=layer_scope)
                else:
                    output = self._block(step.unit, merged, unit_context)
            except AggSpecError as exc:
                if len(exc.notes) >= _MAX_NOTES:
                    raise
                raise exc.with_note(Note(f"in layer {l} of {scope.prefix}", step.span)) from None
            outputs.append(output)

        emitted = [outputs[j] for j in emits]
        newest = outputs[max(emits)]
        result = self._merge(
            emit_merge,
            emit_project,
            emitted,
            newest.shape,
            node_id=scope.fresh(emit_merge.name),
            scope=scope,
            role="emit",
            span=step.emit.span if step.emit else step.span,
            context=stage_context,
            layer=None,
            projections=projections,
            what=f"output of {scope.prefix}: ",
        )
        self.stages.append(
            StageInfo(
                name=scope.prefix,
                length=length,
                unit=_summarize_units(unit_descriptions, step, self.module.source),
                take=take_rule.describe(),
                merge=_describe_merge(merge, project, merge_clause, self.module.source),
                emit=emit_rule.describe()
                + (f" using {emit_merge.name}" if step.emit and step.emit.using else ""),
                takes=tuple(tuple(t) for t in takes),
                emits=tuple(emits),
                outputs=tuple(v.node for v in outputs),
                output=result.node,
                span=step.span,
            )
        )
        return result

    def _take_rule(self, clause: s.TakeClause | None, env: Env) -> Any:
        if clause is None:
            return TAKE_RULES["chain"].build({})
        return self._rule(clause.rule, env, TAKE_RULES, "connectivity rule")

    def _rule(self, rule: s.Rule, env: Env, registry: Mapping[str, Any], what: str) -> Any:
        if isinstance(rule, s.WhereRule):
            return self._where(rule, env)
        entry = registry.get(rule.name) or TAKE_RULES.get(rule.name)
        if entry is None:
            names = sorted({*registry, *TAKE_RULES, "where"})
            close = difflib.get_close_matches(rule.name, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (rules: {', '.join(names)})"
            raise AggSpecError(f"unknown {what} '{rule.name}'{hint}", rule.name_span)
        args = self._bind(entry.signature, rule.name, rule, env)
        try:
            return entry.build(args)
        except RuleError as exc:
            raise AggSpecError(str(exc), rule.span) from None

    def _where(self, rule: s.WhereRule, env: Env) -> Where:
        condition = rule.condition

        def holds(l: int, j: int, L: int) -> bool:
            result = evaluate(condition, env.child({"l": l, "j": j, "L": L}))
            if not isinstance(result, bool):
                raise AggSpecError(
                    f"a where condition must be true or false, got {type_name(result)} {show_value(result)}",
                    condition.span,
                )
            return result

        return Where(holds, source_text(self.module.source, condition.span))

    def _takes(self, rule: Any, length: int, step: s.Stage, name: str) -> list[list[int]]:
        """Every layer's take list, failing as soon as the connection limit would be passed."""
        span = step.take.span if step.take else step.span
        if isinstance(rule, Where) and length * (length + 1) // 2 > self.limits.max_connections:
            # A where rule examines every pair: bound that work by the same limit.
            raise AggSpecError(
                f"a where rule over {length:,} layers examines {length * (length + 1) // 2:,} pairs, "
                f"more than the connection limit of {self.limits.max_connections:,} "
                "(raise it with --max-connections)",
                span,
            )
        expected = getattr(rule, "expected_connections", None)
        if expected is not None:  # random graphs: refuse before networkx draws them
            self.builder.check_connections(expected(length), span)
        budget = self.limits.max_connections - self.builder.connections
        takes: list[list[int]] = []
        total = 0
        for l in range(1, length + 1):
            try:
                taken = rule.take(l, length)
            except RuleError as exc:
                raise AggSpecError(str(exc), span) from None
            if not taken:
                raise AggSpecError(f"layer {l} of {name} takes no input under '{rule.describe()}'", span)
            total += len(taken)
            if total > budget:
                self.builder.check_connections(total, span)
            takes.append(taken)
        return takes

    def _emit_rule(
        self, clause: s.EmitClause | None, env: Env, merge: Merge, project: bool
    ) -> tuple[Any, Merge, bool]:
        if clause is None:
            return EMIT_RULES["last"].build({}), merge, project
        rule = clause.rule
        if isinstance(rule, s.NamedRule) and rule.name in EMIT_RULES:
            emit_rule = self._rule(rule, env, EMIT_RULES, "emit rule")
        else:
            emit_rule = TakeAtEnd(self._rule(rule, env, EMIT_RULES, "emit rule"))
        if clause.using is not None:
            return emit_rule, self._merge_kind(clause.using, env), clause.using.project
        return emit_rule, merge, project

    def _describe_call(self, call: s.Call, env: Env) -> str:
        if not call.has_parens:
            return call.name.id
        args, kwargs = self._arguments(call, env)
        parts = [show_value(a) for a in args] + [f"{k}={show_value(v)}" for k, v in kwargs.items()]
        return f"{call.name.id}({', '.join(parts)})"

    # ------------------------------------------------------------ explicit graph form

    def _graph(self, step: s.Graph, value: Value, context: Context) -> Value:
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
                self._lookup_value(line.name, values)
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
            source = self._graph_source(line.source, values, used, binding_scope, binding_context)
            values[name] = self._block(line.steps, source, binding_context)
            bindings[name] = line
            result = name
        if result is None:
            raise AggSpecError("a graph needs at least one binding", step.span)
        used.add(result)
        for name, binding in bindings.items():
            if name not in used:
                raise AggSpecError(f"value '{name}' is never used", binding.name.span)
        return values[result]

    def _graph_source(
        self,
        source: s.Name | s.MergeSource,
        values: Mapping[str, Value],
        used: set[str],
        scope: NameScope,
        context: Context,
    ) -> Value:
        if isinstance(source, s.Name):
            used.add(source.id)
            return self._lookup_value(source, values)
        merge = self._merge_kind(source.merge_kind, context.env)
        inputs = []
        for name in source.inputs:
            used.add(name.id)
            inputs.append(self._lookup_value(name, values))
        return self._merge(
            merge,
            source.merge_kind.project,
            inputs,
            inputs[0].shape,
            node_id=scope.fresh(merge.name),
            scope=scope,
            role="graph",
            span=source.span,
            context=context,
            layer=context.layer,
        )

    @staticmethod
    def _lookup_value(name: s.Name, values: Mapping[str, Value]) -> Value:
        if name.id not in values:
            close = difflib.get_close_matches(name.id, sorted(values), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise AggSpecError(f"no value named '{name.id}' in this graph{hint}", name.span)
        return values[name.id]


# ---------------------------------------------------------------- helpers


def _shape_names(shape: Shape) -> dict[str, int]:
    if len(shape) == 3:
        return {"C": shape[0], "H": shape[1], "W": shape[2]}
    return {"C": shape[0], "H": 1, "W": 1}


def _argument_span(call: s.Call | s.NamedRule, argument: int | str | None) -> s.Span:
    if isinstance(argument, int) and argument < len(call.args):
        return call.args[argument].span
    if isinstance(argument, str):
        for keyword in call.kwargs:
            if keyword.name == argument:
                return keyword.span
    return call.span


def _summarize_units(descriptions: list[str], step: s.Stage, source: str) -> str:
    if not descriptions:  # a braced unit: show its source, shortened
        text = source_text(source, step.unit.span)
        return text if len(text) <= 40 else text[:37] + "..."
    first = descriptions[0]
    return first if all(d == first for d in descriptions) else f"{first} (varies with l)"


def _describe_merge(merge: Merge, project: bool, clause: s.MergeClause | None, source: str) -> str:
    text = merge.name + ("(project)" if project else "")
    if clause and clause.post.steps:
        first, last = clause.post.steps[0].span, clause.post.steps[-1].span
        text += " then " + source_text(source, s.Span(first.line, first.col, last.end_line, last.end_col))
    return text
