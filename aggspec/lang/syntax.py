"""The syntax tree of a ``.agg`` file: one frozen dataclass per construct.

The parser builds these from lark's parse tree (see ``parser.py``); the
elaborator reads them and never sees lark. Every node carries the ``Span`` of
the source text it came from so that later stages can point at it in errors.
Nothing here evaluates anything: expressions are kept as trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aggspec.span import Span as Span  # re-exported: every syntax node carries one

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Literal:
    value: int | float | bool | str
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class UnaryOp:
    op: str  # "-", "+", "not"
    operand: Expr
    span: Span


@dataclass(frozen=True)
class BinaryOp:
    """Arithmetic, comparison and boolean operators (``and``/``or`` short-circuit)."""

    op: str  # "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Conditional:
    """``body if test else orelse``."""

    body: Expr
    test: Expr
    orelse: Expr
    span: Span


@dataclass(frozen=True)
class Index:
    value: Expr
    index: Expr
    span: Span


@dataclass(frozen=True)
class FuncCall:
    """A call of a built-in pure function (``min``, ``log2``, ``range``...)."""

    func: Name
    args: tuple[Expr, ...]
    span: Span


Expr = Literal | Name | ListExpr | TupleExpr | UnaryOp | BinaryOp | Conditional | Index | FuncCall


# ---------------------------------------------------------------- steps


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    """An op or definition applied to the current value: ``conv(64, 3, stride=2)``."""

    name: Name
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span
    has_parens: bool = False


@dataclass(frozen=True)
class Let:
    name: Name
    value: Expr
    span: Span


@dataclass(frozen=True)
class For:
    targets: tuple[Name, ...]
    destructure: bool  # ``for (a, b) in ...``
    iterable: Expr
    body: Block
    span: Span


@dataclass(frozen=True)
class If:
    branches: tuple[tuple[Expr, Block], ...]  # ``if`` and each ``else if``
    orelse: Block | None
    span: Span


@dataclass(frozen=True)
class MergeKind:
    """How several values are combined: ``sum``, ``concat(project)``..."""

    name: Name
    project: bool
    span: Span
    project_bn: bool = True  # ``(project, bn=false)``: the projection is a 1x1 conv alone


@dataclass(frozen=True)
class Join:
    """Parallel branches on the same input, combined by a merge."""

    merge_kind: MergeKind
    branches: tuple[Block, ...]
    span: Span


@dataclass(frozen=True)
class Residual:
    """``residual(project) { body }`` = body(x) + shortcut(x)."""

    project: bool
    body: Block
    span: Span
    project_bn: bool = True


@dataclass(frozen=True)
class NamedRule:
    """A connectivity rule by name: ``exponential(base=3)``, ``random ws(4, 0.75, seed=1)``.

    Also an ``across`` clause's resampler: ``upsampled(mode="bilinear")``.
    """

    name: str
    name_span: Span
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span


@dataclass(frozen=True)
class WhereRule:
    """``where <condition on l, j, L>``."""

    condition: Expr
    span: Span


Rule = NamedRule | WhereRule


@dataclass(frozen=True)
class TakeClause:
    rule: Rule
    span: Span
    order: str | None = None  # "newest" or "oldest" first; None: the rule's own order


@dataclass(frozen=True)
class MergeClause:
    merge_kind: MergeKind
    post: Block  # steps after ``then``; empty when absent
    span: Span


@dataclass(frozen=True)
class EmitClause:
    rule: Rule
    using: MergeKind | None
    span: Span
    order: str | None = None  # "newest" or "oldest" first; None: the rule's own order


@dataclass(frozen=True)
class AcrossClause:
    """``across b1, b2 pooled``: the earlier stages whose outputs the rules index before the stage's own."""

    stages: tuple[Name, ...]
    resample: NamedRule | None  # a resampler by name, with arguments as a rule has them
    span: Span


@dataclass(frozen=True)
class Stage:
    """``stage [name =] <count> * <unit> { across ...; take ...; merge ...; emit ... }``."""

    count: Expr
    unit: Call | Block
    take: TakeClause | None
    merge: MergeClause | None
    emit: EmitClause | None
    span: Span
    name: Name | None = None
    across: AcrossClause | None = None


@dataclass(frozen=True)
class Binding:
    """``name = source -> steps`` inside ``graph(x) { ... }``."""

    name: Name
    source: Name | MergeSource
    steps: Block
    span: Span


@dataclass(frozen=True)
class MergeSource:
    """``sum(a, b)`` or ``sum(project)(a, b)`` as the source of a binding."""

    merge_kind: MergeKind
    inputs: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class Return:
    name: Name
    span: Span


@dataclass(frozen=True)
class GraphFor:
    """``for`` inside a graph: its bindings may rebind names, so a value can grow turn by turn."""

    targets: tuple[Name, ...]
    destructure: bool
    iterable: Expr
    body: tuple[GraphLine, ...]
    span: Span


@dataclass(frozen=True)
class GraphIf:
    """``if`` inside a graph: the bindings of the branch taken are the graph's."""

    branches: tuple[tuple[Expr, tuple[GraphLine, ...]], ...]
    orelse: tuple[GraphLine, ...] | None
    span: Span


GraphLine = Binding | Return | Let | GraphFor | GraphIf


@dataclass(frozen=True)
class Graph:
    """The explicit graph form: named values wired by hand."""

    input_name: Name
    body: tuple[GraphLine, ...]
    span: Span


Step = Call | Let | For | If | Join | Residual | Stage | Graph


@dataclass(frozen=True)
class Block:
    steps: tuple[Step, ...]
    span: Span


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Param:
    name: Name
    types: tuple[Name, ...]  # empty: the override must have the default's type
    default: Expr
    span: Span


@dataclass(frozen=True)
class Formal:
    name: Name
    default: Expr | None


@dataclass(frozen=True)
class Def:
    name: Name
    formals: tuple[Formal, ...]
    body: Block
    span: Span


@dataclass(frozen=True)
class Network:
    name: Name
    input_shape: tuple[Expr, ...]
    body: Block
    span: Span


Declaration = Param | Let | Def | Network


@dataclass(frozen=True)
class Module:
    """A whole ``.agg`` file."""

    declarations: tuple[Declaration, ...]
    filename: str
    source: str = field(repr=False)
