"""Analysis functions on small hand-checked cases, and the paper's complexity claims."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import aggspec
import aggspec.analysis.hops
from aggspec.analysis.counts import (
    activation_bytes,
    mac_count,
    parameter_count,
    stage_fan_in,
    weight_layer_path_lengths,
)
from aggspec.analysis.hops import HopStats, closed_form_hops, layer_edges, stage_hops, stage_layer_graph
from aggspec.ir.rules import TAKE_RULES, RuleError
from aggspec.ir.signature import SignatureError

from ..conftest import EXAMPLES, example_paths


def stage_of(take: str, L: int):
    # merge sum: the connections are the point, and concatenation would grow past any tensor limit
    (stage,) = aggspec.loads(
        f"network T(input 4x8x8) {{ stage {L} * relu {{ take {take}; merge sum }} }}"
    ).stages
    return stage


def all_pair_hops(stage) -> dict[tuple[int, int], int]:
    """Shortest paths i -> j (i < j) by networkx, pair by pair: the slow, obvious reference."""
    graph = stage_layer_graph(stage)
    lengths = dict(nx.all_pairs_shortest_path_length(graph))
    return {(i, j): lengths[i][j] for i, j in itertools.combinations(graph.nodes, 2) if j in lengths[i]}


@pytest.mark.parametrize("L", [1, 2, 7, 12, 40, 64])
def test_exponential_rule(L: int) -> None:
    stage = stage_of("exponential", L)
    assert stage_fan_in(stage) == [l.bit_length() for l in range(1, L + 1)]  # floor(log2 l) + 1
    assert stage.connections == sum(l.bit_length() for l in range(1, L + 1))
    hops = all_pair_hops(stage)
    assert all(h == bin(j - i).count("1") for (i, j), h in hops.items())  # popcount(j - i)
    stats = stage_hops(stage)
    assert stats.max_hops == max(hops.values())
    assert stats.mean_hops == pytest.approx(sum(hops.values()) / len(hops))
    assert stats.pairs == L * (L + 1) // 2 and stats.unreachable_pairs == 0


@pytest.mark.parametrize("L", [1, 5, 30])
def test_dense_rule(L: int) -> None:
    stage = stage_of("dense", L)
    assert stage_fan_in(stage) == list(range(1, L + 1))
    assert stage.connections == L * (L + 1) // 2
    assert stage_hops(stage) == HopStats(1, 1.0, L * (L + 1) // 2, 0)


@pytest.mark.parametrize("L", [1, 5, 30])
def test_chain_rule(L: int) -> None:
    stage = stage_of("chain", L)
    hops = all_pair_hops(stage)
    assert all(h == j - i for (i, j), h in hops.items())
    stats = stage_hops(stage)
    assert stats.max_hops == L
    assert stats.mean_hops == pytest.approx((L + 2) / 3)  # mean of j - i over pairs


def test_unreachable_pairs_are_counted_not_averaged() -> None:
    # every layer reads the input and the outputs of its own parity: odd outputs never reach even ones
    stage = stage_of("where j == 0 or j % 2 == l % 2", 6)
    hops = all_pair_hops(stage)
    stats = stage_hops(stage)
    assert stats.pairs == len(hops) and stats.unreachable_pairs == 21 - len(hops) > 0
    assert stats.mean_hops == pytest.approx(sum(hops.values()) / len(hops))


def test_hops_in_blocks_equal_hops_at_once(monkeypatch) -> None:
    stage = stage_of("random ws(4, 0.5, seed=3)", 50)
    whole = stage_hops(stage)
    monkeypatch.setattr(aggspec.analysis.hops, "_CHUNK_BYTES", 8 * 51 * 7)  # seven sources at a time
    assert stage_hops(stage) == whole


def test_weight_layer_paths_of_resnet18() -> None:
    graph = aggspec.load(EXAMPLES / "resnet18.agg").graph
    # shortest: conv1, the three projection shortcuts, the linear head; longest: all 18
    assert weight_layer_path_lengths(graph) == (5, 18)


def test_activation_bytes_count_merge_buffers() -> None:
    graph = aggspec.loads("network T(input 4x8x8) { stage 2 * conv(4, 3) { take dense; emit all } }").graph
    # conv 4x8x8, concat 8x8x8, conv 4x8x8, emit concat 12x8x8: 28 * 64 floats
    assert activation_bytes(graph) == 28 * 64 * 4


@pytest.mark.parametrize("path", example_paths())
def test_macs_equal_torch_flop_counter(path) -> None:
    spec = aggspec.load(path)
    model = aggspec.build(spec, verify=False).eval()  # shapes are verified in tests/pytorch
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *spec.input_shape))
    assert counter.get_total_flops() == 2 * mac_count(spec.graph)


def stage1_params(name: str, **params) -> int:
    report = aggspec.analyze(EXAMPLES / name, **params)
    return report.stages[0].params


@pytest.mark.parametrize(
    "L", [48, pytest.param(96, marks=pytest.mark.slow), pytest.param(192, marks=pytest.mark.slow)]
)
def test_parameter_growth_with_stage_length(L: int) -> None:
    depth = 3 * L + 4
    dense = [stage1_params("densenet_cifar.agg", depth=d) for d in (depth, 3 * 2 * L + 4)]
    sparse = [stage1_params("sparsenet_cifar.agg", depth=d, bottleneck=False) for d in (depth, 3 * 2 * L + 4)]
    summed = [
        stage1_params("sparsenet_cifar.agg", depth=d, bottleneck=False, merge="sum")
        for d in (depth, 3 * 2 * L + 4)
    ]
    assert 3.5 < dense[1] / dense[0] < 4.05  # O(L^2): doubling L quadruples
    assert summed[1] == 2 * summed[0]  # O(L): every layer is the same
    ratio = sparse[1] / sparse[0]  # O(L log L): a little over double
    assert 2.0 < ratio < 2 * (1 + 1.5 / (L.bit_length() - 1))


def test_parameter_count_of_a_weighted_merge() -> None:
    graph = aggspec.loads("network T(input 4x8x8) { stage 3 * relu { take dense; merge weighted } }").graph
    assert parameter_count(graph) == 2 + 3  # one gate per input of layers 2 and 3


CLOSED_FORMS = ["chain", "dense", "exponential"]  # every take rule that declares one without arguments
# ...and with them: other bases, and offsets (which need offset 1 for a closed form)
CLOSED_WITH_ARGUMENTS = ["exponential(base=3)", "exponential(base=5)", "offsets(1, 3)", "offsets(1, 4, 6, 9)"]


def test_every_declared_closed_form_is_checked_against_search() -> None:
    declared = set()
    for name, entry in TAKE_RULES.items():
        try:
            rule = entry.build(entry.signature.bind(name, (), {}))
        except (SignatureError, RuleError):  # needs arguments: offsets and random graphs, which have none
            continue
        if rule.closed_form_hops() is not None:
            declared.add(rule.name)
    assert sorted(declared) == CLOSED_FORMS


@pytest.mark.parametrize("take", CLOSED_FORMS + CLOSED_WITH_ARGUMENTS)
@pytest.mark.parametrize("L", [*range(1, 40), 257, 1000])
def test_closed_form_hops_equal_breadth_first_search(take: str, L: int) -> None:
    if take == "dense" and L > 300:
        pytest.skip("dense stages that long are slow to build and prove nothing new")
    stage = stage_of(take, L)
    assert stage_hops(stage) == stage_hops(stage, closed_form=False)


def test_offsets_have_a_closed_form_only_with_offset_one() -> None:
    from aggspec.ir.rules import Offsets

    assert Offsets((2, 3)).closed_form_hops() is None  # gap 1 cannot be crossed: searched
    hops = Offsets((1, 4, 6)).closed_form_hops()
    assert hops is not None and [hops(d) for d in range(1, 13)] == [1, 2, 3, 1, 2, 1, 2, 2, 3, 2, 3, 2]


def count_searches(monkeypatch) -> list[int]:
    """Count the breadth-first searches stage_hops runs (one entry per block of sources)."""
    calls: list[int] = []
    search = aggspec.analysis.hops.shortest_path

    def counted(*args, **kwargs):
        calls.append(1)
        return search(*args, **kwargs)

    monkeypatch.setattr(aggspec.analysis.hops, "shortest_path", counted)
    return calls


def test_closed_forms_are_chosen_by_the_rule_not_its_spelling(monkeypatch) -> None:
    # A where rule that selects exactly the exponential connections (l - j a power of two)
    # is still searched: the closed form belongs to the exponential rule, not to its edges.
    exponential, where = stage_of("exponential", 40), stage_of("where popcount(l - j) == 1", 40)
    assert [sorted(t) for t in where.takes] == [sorted(t) for t in exponential.takes]
    searches = count_searches(monkeypatch)
    closed = stage_hops(exponential)
    assert searches == []
    assert stage_hops(where) == closed and len(searches) == 1
    assert closed_form_hops(where) is None and closed_form_hops(exponential) is int.bit_count


def test_exponential_base_three_has_a_closed_form_equal_to_search(monkeypatch) -> None:
    stage = stage_of("exponential(base=3)", 30)
    assert stage.take_rule.base == 3
    searches = count_searches(monkeypatch)
    stats = stage_hops(stage)
    assert searches == []  # digit sums in base 3, not a search
    hops = all_pair_hops(stage)
    assert stats.max_hops == max(hops.values()) and stats.pairs == len(hops)
    assert stats.mean_hops == pytest.approx(sum(hops.values()) / len(hops))


def test_a_stage_too_large_to_search_whole_is_searched_from_evenly_spaced_outputs() -> None:
    stage = stage_of("random ws(k=4, p=0.3, seed=2)", 60)
    exact = stage_hops(stage, closed_form=False)
    assert exact.sampled_sources is None
    pairs = len(stage.takes) + 1 + sum(len(t) for t in stage.takes)  # outputs + connections
    sampled = stage_hops(stage, closed_form=False, search_budget=7 * pairs)
    assert sampled.sampled_sources == 7
    starts = [0, 10, 20, 30, 40, 50, 60]  # evenly spaced, first and last included
    hops = {pair: d for pair, d in all_pair_hops(stage).items() if pair[0] in starts}
    assert sampled.pairs == len(hops) and sampled.max_hops == max(hops.values())
    assert sampled.mean_hops == pytest.approx(sum(hops.values()) / len(hops))
    asked = sum(60 - start for start in starts)
    assert sampled.unreachable_pairs == asked - len(hops)


def test_sampled_hops_are_marked_in_the_report(monkeypatch) -> None:
    from aggspec.cli.report_text import format_report

    spec = aggspec.loads(
        "network T(input 4x8x8) { stage 60 * relu { take random er(p=0.2, seed=1); merge sum } }"
    )
    monkeypatch.setattr(aggspec.analysis.report, "SEARCH_BUDGET", 500)
    report = aggspec.analyze(spec)
    (stage,) = report.stages
    assert stage.hops_sampled_sources is not None and stage.hops_sampled_sources < 61
    assert f"(from {stage.hops_sampled_sources} of 61 outputs)" in format_report(report)
    assert report.to_dict()["stages"][0]["hops_sampled_sources"] == stage.hops_sampled_sources


def test_hops_of_a_stage_reaching_across_count_every_block_and_transition() -> None:
    """Log-DenseNet's claim: any output reaches any later one in at most 1 + log2(L) hops
    over the whole network, which the across stage's global layer graph measures."""
    import math

    spec = aggspec.load(EXAMPLES / "log_densenet.agg", depth=40, bottleneck=False)
    last = spec.stages[-1]
    n, sources, targets = layer_edges(last, spec.stages, spec.graph)
    assert n == 39
    # the global graph is exactly x_i <- x_{i - 2^k}: layers, and the transitions at 13 and 26
    expected = {(i - 2**k, i) for i in range(1, n) for k in range(i.bit_length()) if i - 2**k >= 0}
    assert set(zip(sources.tolist(), targets.tolist(), strict=True)) == expected
    hops = stage_hops(last, stages=spec.stages, graph=spec.graph)
    assert hops.unreachable_pairs == 0
    assert hops.max_hops == max(bin(d).count("1") for d in range(1, n)) <= 1 + math.log2(n)
    # without the IR the transitions are unknown: fewer edges, and some pairs unreachable
    assert stage_hops(last, stages=spec.stages).unreachable_pairs > 0


def test_a_stage_that_follows_its_predecessor_directly_counts_the_shared_value_once() -> None:
    spec = aggspec.loads(
        "network T(input 4x8x8) { stage a = 3 * relu\n stage b = 2 * relu { across a; take where j == l - 1 or j == L - l } }"
    )
    a, b = spec.stages
    assert b.outputs[3] == b.outputs[4] == a.output  # b's input is a's last output
    n, _, _ = layer_edges(b, spec.stages, spec.graph)
    assert n == 6  # seven indices, six values
    assert stage_hops(b, stages=spec.stages, graph=spec.graph).unreachable_pairs == 0


def test_the_search_budget_is_shared_by_the_stages_searched(monkeypatch) -> None:
    stage = "stage 60 * relu { take random er(p=0.2, seed=1); merge sum }"
    one = aggspec.loads(f"network T(input 4x8x8) {{ {stage} }}")
    two = aggspec.loads(
        f"network T(input 4x8x8) {{ {stage}\n {stage}\n stage 60 * relu {{ take dense; merge sum }} }}"
    )
    n, sources, _ = layer_edges(one.stages[0])
    monkeypatch.setattr(aggspec.analysis.report, "SEARCH_BUDGET", n * (n + len(sources)) + 1)
    assert aggspec.analyze(one).stages[0].hops_sampled_sources is None  # the whole budget: every output
    sampled = [s.hops_sampled_sources for s in aggspec.analyze(two).stages]
    assert sampled[0] is not None and sampled[1] is not None  # half each: estimated
    assert sampled[2] is None  # dense has a closed form: it takes no share
