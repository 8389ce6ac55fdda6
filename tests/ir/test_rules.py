"""Connectivity and emit rules on small literal cases."""

from __future__ import annotations

import networkx as nx
import pytest

from aggspec.ir.rules import (
    EMIT_RULES,
    TAKE_RULES,
    All,
    Chain,
    Dense,
    Exponential,
    Last,
    Offsets,
    RandomGraph,
    RuleError,
    Sinks,
    TakeAtEnd,
    Where,
)


def takes(rule, L: int) -> list[list[int]]:
    return [rule.take(l, L) for l in range(1, L + 1)]


def test_chain() -> None:
    assert takes(Chain(), 4) == [[0], [1], [2], [3]]


def test_dense_is_ascending() -> None:
    assert takes(Dense(), 4) == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]


def test_exponential_is_newest_first() -> None:
    assert takes(Exponential(), 8) == [
        [0],
        [1, 0],
        [2, 1],
        [3, 2, 0],
        [4, 3, 1],
        [5, 4, 2],
        [6, 5, 3],
        [7, 6, 4, 0],
    ]


def test_exponential_at_l_plus_one_is_sparsenet_block_output() -> None:
    assert Exponential().take(13, 12) == [12, 11, 9, 5]


def test_exponential_base_three() -> None:
    assert Exponential(3).take(10, 10) == [9, 7, 1]


@pytest.mark.parametrize("l", range(1, 200))
def test_exponential_fan_in_is_floor_log2_plus_one(l: int) -> None:
    assert len(Exponential().take(l, 200)) == l.bit_length()


def test_sparse_is_exponential() -> None:
    assert TAKE_RULES["sparse"] is TAKE_RULES["exponential"]


def test_offsets_keep_the_written_order() -> None:
    assert takes(Offsets((2, 1)), 3) == [[0], [0, 1], [1, 2]]


def test_where_is_ascending() -> None:
    rule = Where(lambda l, j, L: j == 0 or (l - j) % 2 == 1, "j == 0 or (l - j) % 2 == 1")
    assert takes(rule, 5) == [[0], [0, 1], [0, 2], [0, 1, 3], [0, 2, 4]]


@pytest.mark.parametrize(
    ("model", "args"),
    [
        ("er", {"p": 0.3, "seed": 7}),
        ("ws", {"k": 4, "p": 0.75, "seed": 1}),
        ("ba", {"m": 2, "seed": 3}),
    ],
)
def test_random_rules_orient_networkx_graphs_low_to_high(model: str, args: dict) -> None:
    L = 12
    rule = RandomGraph(model, dict(args))
    reference = {
        "er": lambda: nx.gnp_random_graph(L, args.get("p", 0), seed=args["seed"]),
        "ws": lambda: nx.watts_strogatz_graph(L, args.get("k", 0), args.get("p", 0), seed=args["seed"]),
        "ba": lambda: nx.barabasi_albert_graph(L, args.get("m", 0), seed=args["seed"]),
    }[model]()
    for l in range(1, L + 1):
        preds = sorted(u + 1 for u in reference.neighbors(l - 1) if u < l - 1)
        assert rule.take(l, L) == (preds or [0])


def test_random_rule_hand_checked_case() -> None:
    # ER with p = 1 is the complete graph: every layer takes every earlier layer, and
    # layer 1, which has no predecessor, takes the stage input.
    rule = RandomGraph("er", {"p": 1.0, "seed": 0})
    assert takes(rule, 4) == [[0], [1], [1, 2], [1, 2, 3]]


def test_random_rule_is_reproducible() -> None:
    a = RandomGraph("ws", {"k": 4, "p": 0.75, "seed": 5})
    b = RandomGraph("ws", {"k": 4, "p": 0.75, "seed": 5})
    assert takes(a, 32) == takes(b, 32)


def test_random_rule_cannot_be_emitted() -> None:
    with pytest.raises(RuleError, match="emit 'sinks'"):
        TakeAtEnd(RandomGraph("er", {"p": 0.5, "seed": 0})).emit(4, [])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Exponential(1), "base of at least 2"),
        (lambda: Offsets(()), "at least one offset"),
        (lambda: Offsets((0,)), "must be positive"),
        (lambda: Offsets((1, 1)), "more than once"),
        (lambda: RandomGraph("ws", {"k": 40, "p": 0.5, "seed": 0}).take(1, 8), "1 <= k <= L"),
        (lambda: RandomGraph("ba", {"m": 8, "seed": 0}).take(1, 8), "1 <= m < L"),
        (lambda: RandomGraph("er", {"p": 1.5, "seed": 0}).take(1, 8), "0 <= p <= 1"),
    ],
)
def test_rule_argument_errors(build, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        build()


def test_emit_rules() -> None:
    chain_takes = takes(Chain(), 4)
    assert EMIT_RULES["last"].build({}).emit(4, chain_takes) == [4]
    assert EMIT_RULES["all"].build({}).emit(4, chain_takes) == [0, 1, 2, 3, 4]
    assert EMIT_RULES["sinks"].build({}).emit(4, chain_takes) == [4]
    assert EMIT_RULES["sinks"].build({}).emit(3, [[0], [0], [1]]) == [2, 3]
    assert TakeAtEnd(Dense()).emit(3, []) == [0, 1, 2, 3]


# ---------------------------------------------------------------- rules as structured values

SAMPLE_ARGS = {  # positional arguments for every registered rule that needs some
    "exponential": (3,),
    "sparse": (3,),
    "offsets": (2, 1),
    "random er": (0.5, 7),
    "random ws": (4, 0.5, 1),
    "random ba": (2, 3),
}


@pytest.mark.parametrize("registry", [TAKE_RULES, EMIT_RULES], ids=["take", "emit"])
def test_every_rule_knows_its_registry_name_and_arguments(registry) -> None:
    for key, entry in registry.items():
        bound = entry.signature.bind(key, SAMPLE_ARGS.get(key, ()), {})
        rule = entry.build(bound)
        assert rule.name == ("exponential" if key == "sparse" else key)
        assert dict(rule.args) == bound
        assert registry[rule.name].build(rule.args) == rule  # name and args are the whole value


def test_rule_names_and_arguments() -> None:
    assert (Chain().name, dict(Chain().args)) == ("chain", {})
    assert (Exponential().name, dict(Exponential().args)) == ("exponential", {"base": 2})
    assert dict(Exponential(3).args) == {"base": 3}
    assert (Offsets((2, 1)).name, dict(Offsets((2, 1)).args)) == ("offsets", {"offsets": (2, 1)})
    ws = RandomGraph("ws", {"k": 4, "p": 0.5, "seed": 1})
    assert (ws.name, dict(ws.args)) == ("random ws", {"k": 4, "p": 0.5, "seed": 1})
    where = Where(lambda l, j, L: j == 0, "j == 0")
    assert (where.name, dict(where.args)) == ("where", {"condition": "j == 0"})
    emitted = TakeAtEnd(Exponential(3))
    assert (emitted.name, dict(emitted.args), emitted.rule) == ("exponential", {"base": 3}, Exponential(3))
    assert [rule.name for rule in (Last(), All(), Sinks())] == ["last", "all", "sinks"]


def test_descriptions_are_unchanged() -> None:
    # describe() is printed and serialised (reports, JSON, diagrams): it must not drift
    rules = [
        Chain(),
        Dense(),
        Exponential(),
        Exponential(3),
        Offsets((2, 1)),
        Where(lambda l, j, L: True, "j == 0 or j % 2 == l % 2"),
        RandomGraph("ws", {"k": 4, "p": 0.75, "seed": 1}),
        Last(),
        All(),
        Sinks(),
        TakeAtEnd(Exponential()),
    ]
    assert [rule.describe() for rule in rules] == [
        "chain",
        "dense",
        "exponential",
        "exponential(base=3)",
        "offsets(2, 1)",
        "where j == 0 or j % 2 == l % 2",
        "random ws(k=4, p=0.75, seed=1)",
        "last",
        "all",
        "sinks",
        "exponential",
    ]


def test_closed_form_hops_are_declared_by_the_rule() -> None:
    assert [Chain().closed_form_hops()(d) for d in (1, 5)] == [1, 5]
    assert [Dense().closed_form_hops()(d) for d in (1, 5)] == [1, 1]
    assert [Exponential().closed_form_hops()(d) for d in (1, 5, 7, 8)] == [1, 2, 3, 1]  # popcount
    assert [Exponential(3).closed_form_hops()(d) for d in (1, 5, 8, 9)] == [1, 3, 4, 1]  # base-3 digit sums
    assert [Offsets((1, 2)).closed_form_hops()(d) for d in (1, 2, 5)] == [1, 1, 3]  # fewest summands
    no_closed_form = [
        Offsets((2, 3)),  # without 1, gap 1 cannot be crossed
        Where(lambda l, j, L: (l - j) & (l - j - 1) == 0, "popcount(l - j) == 1"),  # exponential's edges
        RandomGraph("ws", {"k": 4, "p": 0.5, "seed": 1}),
    ]
    assert [rule.closed_form_hops() for rule in no_closed_form] == [None] * 3
