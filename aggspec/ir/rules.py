"""Connectivity rules (``take``) and emit rules: pure functions of l and L.

Inside a stage of L layers, output 0 is the stage input and output l is the
output of layer l. ``take(l, L)`` is the ordered list of earlier outputs that
layer l aggregates; the order is the merge order (it matters for ``concat``):

============================  ===========================================  ==========================
rule                          take(l)                                      order
============================  ===========================================  ==========================
``chain``                     [l-1]
``dense``                     [0, 1, ..., l-1]                             ascending (torchvision)
``exponential(base=2)``       [l-1, l-b, l-b^2, ...] while >= 0           newest first (expFetch)
``offsets(o1, o2, ...)``      [l-o for o in offsets if l-o >= 0]           as written
``where <cond on l, j, L>``   [j in 0..l-1 if cond]                        ascending
``random er|ws|ba(...)``      predecessors in a networkx random graph      ascending
============================  ===========================================  ==========================

``sparse`` is another name for ``exponential``. Any rule takes an explicit
order after a comma (``dense, newest first``; ``Ordered``). An emit rule says what leaves
the stage: ``last`` (x_L), ``all`` (x_0..x_L), ``sinks`` (outputs no later layer
takes) or any take rule evaluated at l = L + 1. Adding a rule is one registry
entry in ``TAKE_RULES`` or ``EMIT_RULES``.

Rules are structured values: each has a ``name`` (its registry name, e.g.
``"exponential"`` or ``"random ws"``; ``"where"`` for a where rule), ``args``
(its bound arguments, e.g. ``{"base": 2}``), and ``describe()`` (the text
users read, e.g. ``"exponential(base=3)"``). Code that must know which rule a
stage uses reads the rule object, never its description. A take rule also says
whether its hops have a proven closed form (``closed_form_hops``), which the
analysis then uses instead of a search.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import networkx as nx

from aggspec.ir.signature import Parameter, Signature
from aggspec.values import show_value

__all__ = [
    "EMIT_RULES",
    "TAKE_RULES",
    "All",
    "Chain",
    "Dense",
    "EmitRule",
    "Exponential",
    "HopsOfGap",
    "Last",
    "Offsets",
    "Ordered",
    "RandomGraph",
    "RuleEntry",
    "RuleError",
    "Sinks",
    "TakeAtEnd",
    "TakeRule",
    "Where",
    "unordered",
]


class RuleError(Exception):
    """A rule's arguments or use make no sense (e.g. ``exponential(base=1)``)."""


HopsOfGap = Callable[[int], int]  # d -> hops from output i to output i + d


class TakeRule(Protocol):
    @property
    def name(self) -> str:
        """The registry name (``"exponential"``, ``"random ws"``), or ``"where"``."""
        ...

    @property
    def args(self) -> Mapping[str, Any]:
        """The bound arguments, by parameter name (``{"base": 2}``)."""
        ...

    def take(self, l: int, L: int) -> list[int]:
        """The outputs layer ``l`` (1..L, or L+1 when emitting) aggregates, in merge order."""
        ...

    def describe(self) -> str:
        """The rule as users read it (``"exponential(base=3)"``): for display only."""
        ...

    def closed_form_hops(self) -> HopsOfGap | None:
        """Hops between outputs as a function of their gap, when a proof gives them.

        In a stage under this rule, the fewest hops from output i to output j
        (i < j) along the layer graph, as a function of d = j - i alone; None
        when there is no such proven formula and the hops must be searched.
        Every formula declared here is checked against breadth-first search in
        the tests.
        """
        ...


class EmitRule(Protocol):
    @property
    def name(self) -> str:
        """The registry name (``"last"``, ``"sinks"``; a take rule's name when one is emitted)."""
        ...

    @property
    def args(self) -> Mapping[str, Any]: ...

    def emit(self, L: int, takes: Sequence[Sequence[int]]) -> list[int]:
        """The outputs (0..L) that leave a stage, given every layer's take list."""
        ...

    def describe(self) -> str: ...


# ---------------------------------------------------------------- take rules


@dataclass(frozen=True)
class Chain:
    name: ClassVar[str] = "chain"

    @property
    def args(self) -> Mapping[str, Any]:
        return {}

    def take(self, l: int, L: int) -> list[int]:
        return [l - 1]

    def describe(self) -> str:
        return "chain"

    def closed_form_hops(self) -> HopsOfGap:
        # The only edges are l-1 -> l, so the one path from i to j has j - i hops.
        return _gap_itself


@dataclass(frozen=True)
class Dense:
    name: ClassVar[str] = "dense"

    @property
    def args(self) -> Mapping[str, Any]:
        return {}

    def take(self, l: int, L: int) -> list[int]:
        return list(range(l))

    def describe(self) -> str:
        return "dense"

    def closed_form_hops(self) -> HopsOfGap:
        # Every layer takes every earlier output: one hop between any two.
        return _one_hop


@dataclass(frozen=True)
class Exponential:
    name: ClassVar[str] = "exponential"
    base: int = 2

    def __post_init__(self) -> None:
        if self.base < 2:
            raise RuleError(f"exponential needs a base of at least 2, got {self.base}")

    def take(self, l: int, L: int) -> list[int]:
        taken = []
        offset = 1
        while l - offset >= 0:
            taken.append(l - offset)
            offset *= self.base
        return taken

    @property
    def args(self) -> Mapping[str, Any]:
        return {"base": self.base}

    def describe(self) -> str:
        return "exponential" if self.base == 2 else f"exponential(base={self.base})"

    def closed_form_hops(self) -> HopsOfGap:
        # The edges are j -> j + b^k (within the stage), so the fewest hops over
        # a gap d are the fewest powers of b summing to d: the digit sum of d in
        # base b, as b equal powers can always merge into one (for b = 2,
        # popcount(d)).
        return int.bit_count if self.base == 2 else functools.partial(_digit_sum, base=self.base)


@dataclass(frozen=True)
class Offsets:
    name: ClassVar[str] = "offsets"
    offsets: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.offsets:
            raise RuleError("offsets needs at least one offset")
        for offset in self.offsets:
            if offset < 1:
                raise RuleError(f"offsets must be positive, got {offset}")
        if len(set(self.offsets)) != len(self.offsets):
            raise RuleError("offsets lists an offset more than once")

    def take(self, l: int, L: int) -> list[int]:
        return [l - o for o in self.offsets if l - o >= 0]

    @property
    def args(self) -> Mapping[str, Any]:
        return {"offsets": self.offsets}

    def describe(self) -> str:
        return f"offsets({', '.join(map(str, self.offsets))})"

    def closed_form_hops(self) -> HopsOfGap | None:
        # The edges are j -> j + o for every offset o (within the stage), the
        # same from every output, so the fewest hops over a gap d are the fewest
        # offsets summing to d: a coin-change table, O(d x offsets). Without
        # offset 1 some gaps cannot be crossed at all (and layer 1 takes
        # nothing, which elaboration refuses): searched then.
        return _FewestSummands(self.offsets) if 1 in self.offsets else None


@dataclass(frozen=True)
class Where:
    """Layer l takes every j < l for which ``condition(l, j, L)`` holds.

    Not a registry entry: the elaborator builds it from the condition's syntax.
    Its ``args`` hold the condition's source text.
    """

    name: ClassVar[str] = "where"
    condition: Callable[[int, int, int], bool]
    text: str
    # Optional fast path: all j of layer l at once, or None where it cannot promise
    # the same answer (``aggspec.lang.vectorize``); ``condition`` decides then.
    columns: Callable[[int, int], list[int] | None] | None = field(default=None, compare=False, repr=False)

    def take(self, l: int, L: int) -> list[int]:
        if self.columns is not None:
            taken = self.columns(l, L)
            if taken is not None:
                return taken
        return [j for j in range(l) if self.condition(l, j, L)]

    @property
    def args(self) -> Mapping[str, Any]:
        return {"condition": self.text}

    def describe(self) -> str:
        return f"where {self.text}"

    def closed_form_hops(self) -> None:
        # Even a condition that yields exactly another rule's connections is
        # searched: nothing proves what an arbitrary condition selects.
        return None


@dataclass
class RandomGraph:
    """Edges of a seeded networkx random graph on L nodes, oriented low to high.

    Node i of the random graph is layer i + 1. A layer with no predecessor in
    the graph takes output 0, the stage input.
    """

    model: str  # "er", "ws" or "ba"
    args: dict[str, Any]  # the bound arguments, seed included
    _cache: dict[int, list[list[int]]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"random {self.model}"

    def expected_connections(self, L: int) -> int:
        """About how many edges the graph will have: checked against limits before drawing it."""
        pairs = L * (L - 1) // 2
        if self.model == "er":
            return int(pairs * float(self.args["p"]))
        if self.model == "ws":
            return min(L * int(self.args["k"]) // 2, pairs)
        m = int(self.args["m"])
        return max(L - m, 0) * m

    def graph(self, L: int) -> nx.Graph:
        seed = self.args["seed"]
        if self.model == "er":
            p = self.args["p"]
            if not 0.0 <= p <= 1.0:
                raise RuleError(f"random er needs 0 <= p <= 1, got {p}")
            return nx.gnp_random_graph(L, p, seed=seed)
        if self.model == "ws":
            k, p = self.args["k"], self.args["p"]
            if not 0.0 <= p <= 1.0:
                raise RuleError(f"random ws needs 0 <= p <= 1, got {p}")
            if not 1 <= k <= L:
                raise RuleError(f"random ws needs 1 <= k <= L (L = {L}), got k = {k}")
            return nx.watts_strogatz_graph(L, k, p, seed=seed)
        m = self.args["m"]
        if not 1 <= m < L:
            raise RuleError(f"random ba needs 1 <= m < L (L = {L}), got m = {m}")
        return nx.barabasi_albert_graph(L, m, seed=seed)

    def _takes(self, L: int) -> list[list[int]]:
        if L not in self._cache:
            graph = self.graph(L)
            takes: list[list[int]] = [[] for _ in range(L)]
            for u, v in graph.edges():
                low, high = min(u, v), max(u, v)
                takes[high].append(low + 1)
            self._cache[L] = [sorted(t) if t else [0] for t in takes]
        return self._cache[L]

    def take(self, l: int, L: int) -> list[int]:
        if l > L:
            raise RuleError(f"random {self.model} has no layer {l}; emit 'sinks' instead")
        return list(self._takes(L)[l - 1])

    def describe(self) -> str:
        args = ", ".join(f"{k}={show_value(v)}" for k, v in self.args.items())
        return f"random {self.model}({args})"

    def closed_form_hops(self) -> None:
        return None


def _digit_sum(gap: int, base: int) -> int:
    total = 0
    while gap:
        gap, digit = divmod(gap, base)
        total += digit
    return total


class _FewestSummands:
    """d -> the fewest ``parts`` (with repetition) that sum to d; 1 must be a part."""

    def __init__(self, parts: tuple[int, ...]) -> None:
        self.parts = sorted(parts)
        self.table = [0]  # table[d], grown as far as asked

    def __call__(self, gap: int) -> int:
        table, parts = self.table, self.parts
        for d in range(len(table), gap + 1):
            table.append(1 + min(table[d - part] for part in parts if part <= d))
        return table[gap]


def _gap_itself(gap: int) -> int:
    return gap


def _one_hop(gap: int) -> int:
    return 1


@dataclass(frozen=True)
class Ordered:
    """A take or emit rule's outputs in an explicit order: ``take dense, newest first``.

    The order is the merge order, so it decides how a concatenation is laid
    out (HarDNet and the SparseNet authors concatenate newest first; ``dense``
    is ascending, as torchvision's DenseNet). The connections, and so the
    hops, are the wrapped rule's.
    """

    rule: Any  # a TakeRule or an EmitRule
    newest: bool

    def __getattr__(self, attribute: str) -> Any:
        # anything else a rule may offer (a random rule's expected_connections) is the wrapped rule's
        if attribute.startswith("__") or attribute in ("rule", "newest"):
            raise AttributeError(attribute)
        return getattr(self.rule, attribute)

    @property
    def name(self) -> str:
        return str(self.rule.name)

    @property
    def args(self) -> Mapping[str, Any]:
        return {**self.rule.args, "order": "newest first" if self.newest else "oldest first"}

    def take(self, l: int, L: int) -> list[int]:
        return sorted(self.rule.take(l, L), reverse=self.newest)

    def emit(self, L: int, takes: Sequence[Sequence[int]]) -> list[int]:
        return sorted(self.rule.emit(L, takes), reverse=self.newest)

    def describe(self) -> str:
        return f"{self.rule.describe()}, {'newest' if self.newest else 'oldest'} first"

    def closed_form_hops(self) -> HopsOfGap | None:
        found: HopsOfGap | None = self.rule.closed_form_hops()
        return found


def unordered(rule: Any) -> Any:
    """The rule an ``Ordered`` wraps (itself if none): what it connects, whatever the order."""
    while isinstance(rule, Ordered):
        rule = rule.rule
    return rule


@dataclass(frozen=True)
class RuleEntry:
    """A registry entry: the rule's signature and how to build it from bound arguments."""

    signature: Signature
    build: Callable[[Mapping[str, Any]], Any]
    summary: str


TAKE_RULES: dict[str, RuleEntry] = {
    "chain": RuleEntry(Signature(), lambda a: Chain(), "layer l takes l-1"),
    "dense": RuleEntry(Signature(), lambda a: Dense(), "layer l takes 0..l-1"),
    "exponential": RuleEntry(
        Signature((Parameter("base", "int", 2),)),
        lambda a: Exponential(a["base"]),
        "layer l takes l-1, l-b, l-b^2, ...",
    ),
    "offsets": RuleEntry(
        Signature(rest=Parameter("offsets", "int")),
        lambda a: Offsets(a["offsets"]),
        "layer l takes l-o for each listed offset o",
    ),
    "random er": RuleEntry(
        Signature((Parameter("p", "float"), Parameter("seed", "int"))),
        lambda a: RandomGraph("er", dict(a)),
        "Erdos-Renyi graph G(L, p)",
    ),
    "random ws": RuleEntry(
        Signature((Parameter("k", "int"), Parameter("p", "float"), Parameter("seed", "int"))),
        lambda a: RandomGraph("ws", dict(a)),
        "Watts-Strogatz graph WS(L, k, p)",
    ),
    "random ba": RuleEntry(
        Signature((Parameter("m", "int"), Parameter("seed", "int"))),
        lambda a: RandomGraph("ba", dict(a)),
        "Barabasi-Albert graph BA(L, m)",
    ),
}
TAKE_RULES["sparse"] = TAKE_RULES["exponential"]


# ---------------------------------------------------------------- emit rules


@dataclass(frozen=True)
class Last:
    name: ClassVar[str] = "last"

    @property
    def args(self) -> Mapping[str, Any]:
        return {}

    def emit(self, L: int, takes: Sequence[Sequence[int]]) -> list[int]:
        return [L]

    def describe(self) -> str:
        return "last"


@dataclass(frozen=True)
class All:
    name: ClassVar[str] = "all"

    @property
    def args(self) -> Mapping[str, Any]:
        return {}

    def emit(self, L: int, takes: Sequence[Sequence[int]]) -> list[int]:
        return list(range(L + 1))

    def describe(self) -> str:
        return "all"


@dataclass(frozen=True)
class Sinks:
    """The layers whose output no later layer takes (RandWire's output nodes)."""

    name: ClassVar[str] = "sinks"

    @property
    def args(self) -> Mapping[str, Any]:
        return {}

    def emit(self, L: int, takes: Sequence[Sequence[int]]) -> list[int]:
        # The stage's own layers are the last len(takes) indices (a stage reaching across
        # earlier stages numbers their outputs first; those are not its layers).
        taken = {j for take in takes for j in take}
        return [l for l in range(L - len(takes) + 1, L + 1) if l not in taken]

    def describe(self) -> str:
        return "sinks"


@dataclass(frozen=True)
class TakeAtEnd:
    """A take rule used as an emit rule: evaluated at l = L + 1.

    Its ``name`` and ``args`` are the take rule's (``emit exponential`` is
    named ``"exponential"``); ``rule`` is the take rule itself.
    """

    rule: TakeRule

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def args(self) -> Mapping[str, Any]:
        return self.rule.args

    def emit(self, L: int, takes: Sequence[Sequence[int]]) -> list[int]:
        return list(self.rule.take(L + 1, L))

    def describe(self) -> str:
        return self.rule.describe()


EMIT_RULES: dict[str, RuleEntry] = {
    "last": RuleEntry(Signature(), lambda a: Last(), "the last layer's output"),
    "all": RuleEntry(Signature(), lambda a: All(), "every output, 0..L (DenseNet's block output)"),
    "sinks": RuleEntry(Signature(), lambda a: Sinks(), "outputs that no later layer takes"),
}
