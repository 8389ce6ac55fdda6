"""Connectivity and emit rules on small literal cases."""

from __future__ import annotations

import networkx as nx
import pytest

from aggspec.ir.rules import (
    EMIT_RULES,
    TAKE_RULES,
    Chain,
    Dense,
    Exponential,
    Offsets,
    RandomGraph,
    RuleError,
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
