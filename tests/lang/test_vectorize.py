"""The column fast path of ``where`` conditions agrees with the interpreter, or defers to it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aggspec
from aggspec import AggSpecError, parse
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env, evaluate
from aggspec.lang.vectorize import column_selector

LAYERS = 12


def condition(text: str) -> s.Expr:
    (let,) = parse(f"let x = {text}").declarations
    assert isinstance(let, s.Let)
    return let.value


def interpreted(expr: s.Expr, env: Env, l: int, L: int) -> list[int] | AggSpecError:
    """What the interpreter takes for layer l, pair by pair, or the error it stops with."""
    taken = []
    try:
        for j in range(l):
            value = evaluate(expr, env.child({"l": l, "j": j, "L": L}))
            if not isinstance(value, bool):
                return AggSpecError("not a bool")
            if value:
                taken.append(j)
    except AggSpecError as exc:
        return exc
    return taken


atoms = st.sampled_from(["j", "l", "L", "k", "0", "1", "2", "3", "-1", "7", "true", "false", "2.5"])
UNARY = ["-", "not "]
BINARY = ["+", "-", "*", "//", "%", "/", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
BINARY += ["&", "^", "<<", ">>", "in", "not in"]
CALLS = ["popcount", "abs", "log2", "ctz"]


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda op, a: f"({op}{a})", st.sampled_from(UNARY), children),
        st.builds(lambda a, op, b: f"({a} {op} {b})", children, st.sampled_from(BINARY), children),
        st.builds(lambda c, a, b: f"({a} if {c} else {b})", children, children, children),
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(CALLS), children),
        st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["min", "max"]), children, children),
    )


expressions = st.recursive(atoms, _compound, max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(expressions)
def test_the_fast_path_equals_the_interpreter_or_defers(text: str) -> None:
    expr, env = condition(text), Env({"k": 5})
    select = column_selector(expr, env)
    for l in range(1, LAYERS + 1):
        fast = select(l, LAYERS)
        if fast is not None:
            assert fast == interpreted(expr, env, l, LAYERS), (text, l)


@pytest.mark.parametrize(
    ("text", "layer", "expected"),
    [
        ("popcount(l - j) == 1", 12, [4, 8, 10, 11]),  # SparseNet's exponential connections
        ("j == 0 or l - j <= 2", 7, [0, 5, 6]),
        ("(l - j) % 3 == 0 and j >= l // 2", 12, [6, 9]),
        ("not (j < 3) and max(j, 8) == j", 10, [8, 9]),
        ("(j if j > 5 else -j) >= 7", 10, [7, 8, 9]),
        ("abs(j - l) <= 1 or true and k < 0", 9, [8]),
        ("l > 100", 9, []),  # independent of j: all or nothing
        ("l < 100", 3, [0, 1, 2]),
        # HarDNet: layer l takes l - 2**n for every 2**n dividing l
        ("popcount(l - j) == 1 and l % (l - j) == 0", 12, [8, 10, 11]),
        ("(l - j) & (l - j - 1) == 0 and (l - j) <= 1 << ctz(l)", 12, [8, 10, 11]),
        ("(j ^ l) >> 2 == 0", 6, [4, 5]),
    ],
)
def test_common_conditions_take_the_fast_path(text: str, layer: int, expected: list[int]) -> None:
    select = column_selector(condition(text), Env({"k": 5}))
    assert select(layer, 12) == expected


@pytest.mark.parametrize(
    "text",
    [
        "10 // (l - j - 1) > 0",  # a zero divisor at j = l - 1: the interpreter reports that pair
        "log2(l - j) < 2",  # floats
        "j + 1",  # not a bool
        "j * 4611686018427387904 > 0",  # could wrap in int64
        "j == 1.0",  # an int against a float
        "[1, 2][0] == j or [j][0] == 1",  # lists per pair
    ],
)
def test_what_the_columns_cannot_promise_goes_to_the_interpreter(text: str) -> None:
    assert column_selector(condition(text), Env({}))(5, 5) is None


def test_a_failing_condition_reports_the_same_pair_and_place_as_before() -> None:
    text = (
        "network N(input 3x8x8) { stage 4 * conv(4, 3) { take where 12 // (l - j - 1) > 0; merge concat } }"
    )
    with pytest.raises(AggSpecError) as caught:
        aggspec.loads(text)
    assert "division by zero" in str(caught.value)
    assert caught.value.span is not None and caught.value.span.col == text.index("12 //") + 1


def test_a_where_rule_wires_what_the_named_rule_wires() -> None:
    base = "network N(input 3x8x8) {{ stage 40 * conv(4, 3) {{ take {}; merge concat }} }}"
    named = aggspec.loads(base.format("exponential")).graph
    written = aggspec.loads(base.format("where popcount(l - j) == 1")).graph
    assert {(u, v) for u, v, _ in named.edges} == {(u, v) for u, v, _ in written.edges}


@given(st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=50))
def test_both_popcounts_count_the_bits_python_counts(values: list[int]) -> None:
    import numpy as np

    from aggspec.lang.vectorize import _popcount, _popcount_sliced

    expected = [bin(v).count("1") for v in values]
    array = np.array(values, dtype=np.int64)
    assert _popcount(array).tolist() == expected
    assert _popcount_sliced(array).tolist() == expected  # the numpy 1 path, whatever numpy runs here
