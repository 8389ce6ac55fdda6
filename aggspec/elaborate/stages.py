"""``stage L * unit { take ...; merge ...; emit ... }``: L layers, their aggregation and the stage's emit.

Layer l merges the earlier outputs its take list names (x_0 is the stage
input), runs the merge clause's ``then`` steps on the result, and applies
the unit to it; the emit merge combines the outputs the emit rule selects.
The nodes get the IR's stage attributes from the contexts built here:
``stage``/``stages`` for all of them, ``layer`` for a layer's nodes, and
``unit`` True only for what the unit builds. The stage is recorded as a
``StageInfo`` with its rule objects.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from aggspec.elaborate import across, calls, connectivity, merging
from aggspec.elaborate.context import MAX_NOTES, Context, Value, shape_names
from aggspec.errors import AggSpecError, Note
from aggspec.ir import StageInfo
from aggspec.ir.merges import MERGES, Merge
from aggspec.ir.rules import RuleError
from aggspec.lang import syntax as s
from aggspec.lang.expressions import evaluate, source_text
from aggspec.span import Span
from aggspec.values import show_value

if TYPE_CHECKING:
    from aggspec.elaborate.elaborator import Elaborator

__all__ = ["stage"]


def stage(elaborator: Elaborator, step: s.Stage, value: Value, context: Context) -> Value:
    """Elaborate a stage fed by ``value``; its result is the emit merge (or the one output emitted)."""
    length = evaluate(step.count, context.env)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise AggSpecError(
            f"a stage needs a positive int number of layers, got {show_value(length)}",
            step.count.span,
        )
    elaborator.builder.reserve(length, step.span)
    scope = context.scope.child_fresh("stage")
    name = scope.prefix
    reach = across.resolve(elaborator, step, context.env)
    offset = reach.offset
    # The rules count globally (the stages reached across first); the unit and the merge's
    # `then` steps see the stage's own L.
    rule_env = context.env.child({"L": offset + length})
    stage_env = context.env.child({"L": length})
    shown = f"stage '{step.name.id}' ({name})" if step.name is not None else name  # in messages
    take_rule = connectivity.take_rule(elaborator, step.take, rule_env)
    takes = connectivity.take_lists(elaborator, take_rule, length, step, shown, offset)
    merge_clause = step.merge
    merge_op = merging.merge_kind(merge_clause.merge_kind, stage_env) if merge_clause else MERGES["concat"]
    project = bool(merge_clause and merge_clause.merge_kind.project)
    project_bn = merge_clause.merge_kind.project_bn if merge_clause else True
    using = step.emit.using if step.emit else None
    emit_project_bn = using.project_bn if using is not None else project_bn
    emit_rule, emit_merge, emit_project = connectivity.emit_rule(
        elaborator, step.emit, rule_env, merge_op, project
    )
    emit_span = step.emit.span if step.emit else step.span
    try:
        emits = emit_rule.emit(offset + length, takes)
    except RuleError as exc:
        raise AggSpecError(str(exc), emit_span) from None
    if not emits:
        raise AggSpecError("the emit rule selects no outputs", emit_span)

    # The stage's own nodes (emit, projections) belong to no unit, even inside an outer one.
    stage_context = replace(
        context, stage=name, stages=(*context.stages, name), unit=False, follow_shape=False
    )
    projections: merging.Projections = {}
    outputs = [*reach.prefix, value]
    unit_descriptions: list[str] = []
    for l in range(1, length + 1):
        layer_scope = scope.child(f"layer{l}")
        position = {"l": l, "L": length}
        layer_context = replace(
            stage_context, env=stage_env.child({"l": l}), layer=l, position=position, scope=layer_scope
        )
        taken = reach.to_one_size(
            elaborator,
            [outputs[j] for j in takes[l - 1]],
            scope=scope,
            context=stage_context,
            what=f"layer {l} of {shown} ",
            span=step.span,
        )
        newest = taken[takes[l - 1].index(max(takes[l - 1]))]
        merged = merging.merge(
            elaborator,
            merge_op,
            project,
            taken,
            newest.shape,
            node_id=layer_scope.fresh(merge_op.name),
            scope=layer_scope,
            role="aggregate",
            span=step.span,
            context=layer_context,
            layer=l,
            projections=projections,
            what=f"layer {l} of {shown}: ",
            project_bn=project_bn,
        )
        if merge_clause and merge_clause.post.steps and len(taken) > 1:
            post_env = layer_context.env.child(shape_names(merged.shape))
            merged = elaborator.block(merge_clause.post, merged, replace(layer_context, env=post_env))
        unit_context = replace(
            layer_context, env=layer_context.env.child(shape_names(merged.shape)), unit=True
        )
        try:
            if isinstance(step.unit, s.Call):
                unit_descriptions.append(calls.describe_call(step.unit, unit_context.env))
                output = calls.call(elaborator, step.unit, merged, unit_context, scope=layer_scope)
            else:
                output = elaborator.block(step.unit, merged, unit_context)
        except AggSpecError as exc:
            if len(exc.notes) >= MAX_NOTES:
                raise
            raise exc.with_note(Note(f"in layer {l} of {shown}", step.span)) from None
        outputs.append(output)

    emitted = reach.to_one_size(
        elaborator,
        [outputs[j] for j in emits],
        scope=scope,
        context=stage_context,
        what=f"the output of {shown} ",
        span=emit_span,
    )
    newest = emitted[emits.index(max(emits))]
    result = merging.merge(
        elaborator,
        emit_merge,
        emit_project,
        emitted,
        newest.shape,
        node_id=scope.fresh(emit_merge.name),
        scope=scope,
        role="emit",
        span=emit_span,
        context=stage_context,
        layer=None,
        projections=projections,
        what=f"output of {shown}: ",
        project_bn=emit_project_bn,
    )
    source = elaborator.module.source
    elaborator.stages.append(
        StageInfo(
            name=name,
            length=length,
            unit=_summarize_units(unit_descriptions, step, source),
            take=take_rule.describe() + _describe_across(step.across, reach),
            merge=_describe_merge(merge_op, project, merge_clause, source),
            emit=emit_rule.describe()
            + (f" using {emit_merge.name}" if step.emit and step.emit.using else ""),
            takes=tuple(tuple(t) for t in takes),
            emits=tuple(emits),
            outputs=tuple(v.node for v in outputs),
            output=result.node,
            span=step.span,
            take_rule=take_rule,
            emit_rule=emit_rule,
            label=step.name.id if step.name is not None else None,
            offset=offset,
            across=tuple(info.name for info in reach.stages),
            resample=reach.describe(),
        )
    )
    return result


def _describe_across(clause: s.AcrossClause | None, reach: across.Across) -> str:
    """`` across block pooled``, as written (names, then the resampler), for ``StageInfo.take``."""
    if clause is None:
        return ""
    resample = reach.describe()
    return " across " + ", ".join(n.id for n in clause.stages) + (f" {resample}" if resample else "")


def _summarize_units(descriptions: list[str], step: s.Stage, source: str) -> str:
    """``StageInfo.unit``: the unit call, or its source shortened when the unit is a braced block."""
    if not descriptions:  # a braced unit: show its source, shortened
        text = source_text(source, step.unit.span)
        return text if len(text) <= 40 else text[:37] + "..."
    first = descriptions[0]
    return first if all(d == first for d in descriptions) else f"{first} (varies with l)"


def _describe_merge(merge_op: Merge, project: bool, clause: s.MergeClause | None, source: str) -> str:
    """``StageInfo.merge``: the merge as written, ``then`` steps included (``sum(project) then relu``)."""
    text = merge_op.name
    if project:
        text += "(project)" if clause is None or clause.merge_kind.project_bn else "(project, bn=false)"
    if clause and clause.post.steps:
        first, last = clause.post.steps[0].span, clause.post.steps[-1].span
        text += " then " + source_text(source, Span(first.line, first.col, last.end_line, last.end_col))
    return text
