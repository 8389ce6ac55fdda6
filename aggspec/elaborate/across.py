"""``across b1, b2 pooled``: a stage whose rules index the outputs of earlier named stages.

The stages named in the clause contribute their outputs (each one's x_0 ..
x_L, in the order the clause lists them; a name given to several stages, as
in a loop, means all of them built so far, in the order they were built;
a stage may list its own name, which in a loop's first turn means none) before the
stage's own, so its take and emit rules see one global index: Log-DenseNet's
x_i takes x_{i - 2^k} whichever block x_{i - 2^k} is in. Outputs of another
resolution are brought to one by the clause's resampler
(``aggspec.ir.resample``), each output once per factor however many layers
take it; without a resampler, differing resolutions are an error.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from aggspec.elaborate.calls import bind
from aggspec.elaborate.context import Context, NameScope, Value
from aggspec.errors import AggSpecError
from aggspec.ir import StageInfo
from aggspec.ir.ops import OPS
from aggspec.ir.resample import RESAMPLERS, ResampleError, Resampler
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env
from aggspec.span import Span

if TYPE_CHECKING:
    from aggspec.elaborate.elaborator import Elaborator

__all__ = ["Across", "resolve"]


@dataclass
class Across:
    """What a stage's ``across`` clause resolved to (nothing, for a stage without one)."""

    stages: tuple[StageInfo, ...] = ()
    prefix: list[Value] = field(default_factory=list)  # their outputs, in global index order
    resampler: Resampler | None = None
    args: dict[str, Any] = field(default_factory=dict)
    span: Span | None = None
    # (node, op, args) -> the resampled value: an output is resampled once per size.
    cache: dict[tuple[str, str, tuple[tuple[str, Any], ...]], Value] = field(default_factory=dict)

    @property
    def offset(self) -> int:
        return len(self.prefix)

    def describe(self) -> str | None:
        return self.resampler.describe(self.args) if self.resampler is not None else None

    def to_one_size(
        self,
        elaborator: Elaborator,
        values: list[Value],
        *,
        scope: NameScope,
        context: Context,
        what: str,
        span: Span,
    ) -> list[Value]:
        """``values`` brought to the resampler's target size; unchanged when they share one.

        Only a stage with an across clause resamples; ``span`` locates an error
        about flat features.
        """
        sizes = {v.shape[1:] for v in values if len(v.shape) == 3}
        if self.span is None or len(sizes) <= 1:
            return values  # without across, the merge (or its projections) judges the sizes as ever
        if self.resampler is None:
            shown = " and ".join(f"{h}x{w}" for h, w in sorted(sizes, reverse=True))
            raise AggSpecError(
                f"{what}takes outputs of sizes {shown}; say how to bring them to one: "
                "add 'pooled' or 'upsampled' to the across clause",
                self.span,
            )
        if any(len(v.shape) != 3 for v in values):
            raise AggSpecError(
                f"{what}takes flat features beside feature maps; they cannot be resampled", span
            )
        target = self.resampler.target(sorted(sizes))
        return [self._resampled(elaborator, v, target, scope, context, what) for v in values]

    def _resampled(
        self,
        elaborator: Elaborator,
        value: Value,
        target: tuple[int, int],
        scope: NameScope,
        context: Context,
        what: str,
    ) -> Value:
        if value.shape[1:] == target:
            return value
        assert self.resampler is not None and self.span is not None
        try:
            op_name, op_args = self.resampler.step((value.shape[1], value.shape[2]), target, self.args)
        except ResampleError as exc:
            raise AggSpecError(f"{what}{exc}", self.span) from None
        op = OPS[op_name]
        resolved = op.resolve_args(op.signature.bind(op_name, [], op_args))
        key = (value.node, op_name, tuple(sorted(resolved.items())))
        if key not in self.cache:
            shape = op.infer_shape(value.shape, resolved)
            node = elaborator.add_node(
                scope.fresh(op_name),
                scope,
                context,
                kind="op",
                op=op_name,
                args=resolved,
                shape=shape,
                span=self.span,
                role="resample",
                layer=None,
                inputs=(value.node,),
            )
            self.cache[key] = Value(node, shape)
        return self.cache[key]


def resolve(elaborator: Elaborator, step: s.Stage, env: Env) -> Across:
    """The stages a stage reaches across, their outputs, and its resampler."""
    clause = step.across
    if clause is None:
        return Across()
    reached: list[StageInfo] = []
    listed: set[str] = set()
    for name in clause.stages:
        if name.id in listed:
            raise AggSpecError(f"'{name.id}' is listed twice in the across clause", name.span)
        listed.add(name.id)
        found = [info for info in elaborator.stages if info.label == name.id]
        if not found and not (step.name is not None and step.name.id == name.id):
            # A stage may name itself: in a loop, the stages this one built in earlier
            # turns (none in the first), as Log-DenseNet's blocks reach their predecessors.
            raise _not_a_stage(elaborator, name, step, env)
        reached.extend(found)
    # Each stage's record holds the outputs it reaches: bound their sum as connections are
    # bounded, or a loop of stages each reaching all the earlier ones grows quadratically.
    elaborator.reached += sum(info.length + 1 for info in reached)
    limit = elaborator.limits.max_connections
    if elaborator.reached > limit:
        raise AggSpecError(
            f"stages reaching across index {elaborator.reached:,} earlier outputs in all, more than "
            f"the connection limit of {limit:,} (raise it with --max-connections)",
            clause.span,
        )
    prefix = [
        Value(node, elaborator.builder.graph.nodes[node]["shape"])
        for info in reached
        for node in info.outputs[info.offset :]
    ]
    resampler, args = _resampler(clause.resample, env)
    return Across(tuple(reached), prefix, resampler, args, clause.span)


def _resampler(clause: s.NamedRule | None, env: Env) -> tuple[Resampler | None, dict[str, Any]]:
    if clause is None:
        return None, {}
    entry = RESAMPLERS.get(clause.name)
    if entry is None:
        close = difflib.get_close_matches(clause.name, sorted(RESAMPLERS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (resamplers: {', '.join(RESAMPLERS)})"
        raise AggSpecError(f"unknown resampler '{clause.name}'{hint}", clause.name_span)
    bound = bind(entry.signature, clause.name, clause, env)
    try:
        entry.check(bound)
    except ResampleError as exc:
        raise AggSpecError(str(exc), clause.span) from None
    return entry, bound


def _not_a_stage(elaborator: Elaborator, name: s.Name, step: s.Stage, env: Env) -> AggSpecError:
    """Why ``name`` names no earlier stage: a later one, a definition, a value, or a typo."""
    why = "across names earlier stages given a name (`stage b1 = 6 * unit`)"
    if name.id in elaborator.defs:
        return AggSpecError(f"'{name.id}' is a definition, not a stage; {why}", name.span)
    if name.id in env:
        return AggSpecError(f"'{name.id}' is a value, not a stage; {why}", name.span)
    for stage in _named_stages(elaborator.module):
        if stage.name is not None and stage.name.id == name.id:
            return AggSpecError(
                f"no stage named '{name.id}' is built before this one (the one on line {stage.span.line} "
                "comes later, or is not built); across reaches only stages built earlier",
                name.span,
            )
    labels = sorted({info.label for info in elaborator.stages if info.label is not None})
    close = difflib.get_close_matches(name.id, labels, n=1)
    hint = (
        f"; did you mean '{close[0]}'?"
        if close
        else f" (named so far: {', '.join(labels)})"
        if labels
        else f"; {why}"
    )
    return AggSpecError(f"no stage named '{name.id}'{hint}", name.span)


def _named_stages(node: Any) -> list[s.Stage]:
    """Every stage in a syntax tree (walked only to explain an error)."""
    found: list[s.Stage] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, s.Stage):
            found.append(item)
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in fields(item))
    return found
