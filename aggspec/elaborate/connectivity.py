"""A stage's connectivity: its take and emit clauses as rule objects, and every layer's take list.

The rule objects come from the registries in ``aggspec.ir.rules`` and are kept
in the stage's ``StageInfo`` (``take_rule``, ``emit_rule``) next to the take
lists they produced. Take lists are computed under the connection limit, so a
rule that would connect too much fails before the IR grows.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aggspec.elaborate.calls import bind
from aggspec.elaborate.merging import merge_kind
from aggspec.errors import AggSpecError
from aggspec.ir.merges import Merge
from aggspec.ir.rules import (
    EMIT_RULES,
    TAKE_RULES,
    EmitRule,
    Ordered,
    RuleEntry,
    RuleError,
    TakeAtEnd,
    TakeRule,
    Where,
    unordered,
)
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env, evaluate, source_text
from aggspec.lang.vectorize import column_selector
from aggspec.values import show_value, type_name

if TYPE_CHECKING:
    from aggspec.elaborate.elaborator import Elaborator

__all__ = ["emit_rule", "take_lists", "take_rule"]


def take_rule(elaborator: Elaborator, clause: s.TakeClause | None, env: Env) -> TakeRule:
    """The stage's take rule; ``chain`` when the stage has no take clause."""
    if clause is None:
        chain: TakeRule = TAKE_RULES["chain"].build({})
        return chain
    rule: TakeRule = _rule(elaborator, clause.rule, env, TAKE_RULES, "connectivity rule")
    if clause.order is not None:
        rule = Ordered(rule, newest=clause.order == "newest")
    return rule


def emit_rule(
    elaborator: Elaborator, clause: s.EmitClause | None, env: Env, merge_op: Merge, project: bool
) -> tuple[EmitRule, Merge, bool]:
    """The emit rule, and the merge (and its ``project``) that combines what it emits.

    Without a clause a stage emits its last output; a take rule used as an
    emit rule is evaluated at l = L + 1. The emit merges with the stage's own
    merge unless ``using`` names another.
    """
    if clause is None:
        last: EmitRule = EMIT_RULES["last"].build({})
        return last, merge_op, project
    rule = clause.rule
    if isinstance(rule, s.NamedRule) and rule.name in EMIT_RULES:
        emitting: EmitRule = _rule(elaborator, rule, env, EMIT_RULES, "emit rule")
    else:
        emitting = TakeAtEnd(_rule(elaborator, rule, env, EMIT_RULES, "emit rule"))
    if clause.order is not None:
        emitting = Ordered(emitting, newest=clause.order == "newest")
    if clause.using is not None:
        return emitting, merge_kind(clause.using, env), clause.using.project
    return emitting, merge_op, project


def _rule(
    elaborator: Elaborator, rule: s.Rule, env: Env, registry: Mapping[str, RuleEntry], what: str
) -> Any:
    """Build a named rule from ``registry`` (take rules are accepted everywhere) or a ``where`` rule."""
    if isinstance(rule, s.WhereRule):
        return _where(elaborator, rule, env)
    entry = registry.get(rule.name) or TAKE_RULES.get(rule.name)
    if entry is None:
        names = sorted({*registry, *TAKE_RULES, "where"})
        close = difflib.get_close_matches(rule.name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (rules: {', '.join(names)})"
        raise AggSpecError(f"unknown {what} '{rule.name}'{hint}", rule.name_span)
    args = bind(entry.signature, rule.name, rule, env)
    try:
        return entry.build(args)
    except RuleError as exc:
        raise AggSpecError(str(exc), rule.span) from None


def _where(elaborator: Elaborator, rule: s.WhereRule, env: Env) -> Where:
    condition = rule.condition

    def holds(l: int, j: int, L: int) -> bool:
        result = evaluate(condition, env.child({"l": l, "j": j, "L": L}))
        if not isinstance(result, bool):
            raise AggSpecError(
                f"a where condition must be true or false, got {type_name(result)} {show_value(result)}",
                condition.span,
            )
        return result

    text = source_text(elaborator.module.source, condition.span)
    return Where(holds, text, column_selector(condition, env))


def take_lists(
    elaborator: Elaborator, rule: TakeRule, length: int, step: s.Stage, name: str, offset: int = 0
) -> list[list[int]]:
    """Every layer's take list, failing as soon as the connection limit would be passed.

    With ``offset`` outputs of stages reached across before the stage's own,
    layer l is asked at the global index offset + l of offset + L.
    """
    span = step.take.span if step.take else step.span
    limit = elaborator.limits.max_connections
    builder = elaborator.builder
    pairs = length * offset + length * (length + 1) // 2
    if isinstance(unordered(rule), Where) and pairs > limit:
        # A where rule examines every pair: bound that work by the same limit.
        reaching = f" reaching {offset:,} earlier outputs" if offset else ""
        raise AggSpecError(
            f"a where rule over {length:,} layers{reaching} examines {pairs:,} pairs, "
            f"more than the connection limit of {limit:,} "
            "(raise it with --max-connections)",
            span,
        )
    expected = getattr(rule, "expected_connections", None)
    if expected is not None and offset:
        # A random graph is drawn over one stage's layers (a layer without predecessors
        # takes the stage input): it has no meaning across stages.
        raise AggSpecError(
            f"'{rule.describe()}' draws a random graph over one stage's layers; it cannot reach across",
            span,
        )
    if expected is not None:  # random graphs: refuse before networkx draws them
        builder.check_connections(expected(length), span)
    budget = limit - builder.connections
    takes: list[list[int]] = []
    total = 0
    for l in range(1, length + 1):
        try:
            taken = rule.take(offset + l, offset + length)
        except RuleError as exc:
            raise AggSpecError(str(exc), span) from None
        if not taken:
            raise AggSpecError(f"layer {l} of {name} takes no input under '{rule.describe()}'", span)
        total += len(taken)
        if total > budget:
            builder.check_connections(total, span)
        takes.append(taken)
    return takes
