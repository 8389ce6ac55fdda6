"""Expression evaluation: results, errors, and the limits that keep it safe."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggspec import AggSpecError, parse
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env, evaluate


def value_of(text: str, **names):
    (let,) = parse(f"let x = {text}").declarations
    assert isinstance(let, s.Let)
    return evaluate(let.value, Env(names))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("1 < 2", True),
        ("1 == 1.0", True),
        ("true == 1", False),
        ("not false and true", True),
        ("false or 1 < 0", False),
        ("3 if 1 > 2 else 4", 4),
        ("[1, 2, 3][1]", 2),
        ("[1, 2, 3][-1]", 3),
        ("[1, 2] + [3]", (1, 2, 3)),
        ("[0] * 3", (0, 0, 0)),
        ("(64, 3)", (64, 3)),
        ('"con" + "cat"', "concat"),
        ("min(3, 1, 2)", 1),
        ("max([3, 1, 2])", 3),
        ("log2(8)", 3.0),
        ("popcount(11)", 3),
        ("len([1, 2])", 2),
        ("range(3)", (0, 1, 2)),
        ("range(1, 7, 2)", (1, 3, 5)),
        ("is_list([1])", True),
        ("is_list(1)", False),
        ("int(3.7)", 3),
        ("floor(-0.5)", -1),
        ("ceil(0.5)", 1),
        ("sum([1, 2, 3])", 6),
        ("abs(-2)", 2),
        ("1.5e2", 150.0),
        ("3 in [1, 2, 3]", True),
        ("3 not in [1, 2, 3]", False),
        ("true in [1]", False),  # bools are not numbers, in lists too
        ("(1, 2) in [(1, 2)]", True),
        ('"sum" in "summation"', True),
        ("12 & 10", 8),
        ("12 ^ 10", 6),
        ("1 << 10", 1024),
        ("-16 >> 2", -4),
        ("1 + 2 << 1", 6),  # shifts bind looser than sums, as in Python
        ("6 & 3 == 2", True),  # and comparisons looser than bit operations
        ("ctz(12)", 2),
        ("ctz(1)", 0),
        ("index([68, 85, 39], 85)", 1),
    ],
)
def test_values(text: str, expected) -> None:
    result = value_of(text)
    assert result == expected and type(result) is type(expected)


def test_names_resolve_through_parent_scopes() -> None:
    (let,) = parse("let x = a + b").declarations
    assert isinstance(let, s.Let)
    assert evaluate(let.value, Env({"b": 2}, parent=Env({"a": 1}))) == 3


def test_or_short_circuits() -> None:
    assert value_of("true or undefined_name") is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 / 0", "division by zero"),
        ("1 + true", "right operand of \\+ must be a number"),
        ("[1][3]", "out of range"),
        ("nope", "unknown name 'nope'"),
        ("open(1)", "unknown function 'open'"),
        ("1 if 2 else 3", "condition must be true or false"),
        ("2 ** 100", "too large"),
        ("range(10 ** 7)", "more than the limit"),
        ("[0] * 2000000", "more than 1000000 elements"),
        ("log2(0)", "positive"),
        ("min()", "min takes 1 to 64 arguments"),
        ("__import__", "unknown name"),
        ("ctz(0)", "ctz needs a positive int"),
        ("1.5 & 1", "left operand of & must be an int"),
        ("1 << 63", "too large"),
        ("1 >> -1", "negative shift count"),
        ("1 in 1", "'in' needs a list or string"),
        ('1 in "abc"', "'in' a string needs a string"),
        ("index([68, 85], 50)", "50 is not one of \\[68, 85\\]"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(AggSpecError, match=message):
        value_of(text)


def test_error_points_at_the_failing_subexpression() -> None:
    with pytest.raises(AggSpecError) as info:
        value_of("1 + (2 // 0)")
    assert info.value.span is not None and info.value.span.col == 14


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6))
def test_integer_arithmetic_agrees_with_python(a: int, b: int) -> None:
    assert value_of("a + b * 3 - a", a=a, b=b) == a + b * 3 - a
    if b != 0:
        assert value_of("a // b", a=a, b=b) == a // b
        assert value_of("a % b", a=a, b=b) == a % b


def test_bools_are_not_numbers_anywhere() -> None:
    with pytest.raises(AggSpecError, match="argument of int must be a number"):
        value_of("int(true)")


def test_round_halves_up() -> None:
    assert (value_of("round(2.5)"), value_of("round(-2.5)"), value_of("round(2.4)")) == (3, -2, 2)


def test_ranges_near_the_integer_limit() -> None:
    with pytest.raises(AggSpecError, match="more than the limit"):
        value_of("range(-9223372036854775807, 9223372036854775807)")


def test_the_work_budget_stops_an_expression_where_it_runs_out() -> None:
    from aggspec.lang.expressions import Work

    (let,) = parse("let x = sum(range(1000)) + sum(range(1000))").declarations
    assert isinstance(let, s.Let)
    assert evaluate(let.value, Env(work=Work(10_000))) == 2 * 499_500
    with pytest.raises(AggSpecError, match="more than 3,000 steps of work") as caught:
        evaluate(let.value, Env(work=Work(3_000)))  # each sum: a 1,000-element range made, then read
    assert caught.value.col > len("let x = sum(range(1000)) + ")  # the second one ran out


def test_comparing_giant_lists_costs_what_it_walks() -> None:
    from aggspec.lang.expressions import Work

    (let,) = parse("let x = [range(100000)] * 50 == [range(100000)] * 50").declarations
    assert isinstance(let, s.Let)
    with pytest.raises(AggSpecError, match="steps of work"):
        evaluate(let.value, Env(work=Work(10_000_000)))


@given(st.integers(-(10**9), 10**9), st.integers(0, 30))
def test_bit_operations_agree_with_python(a: int, b: int) -> None:
    assert value_of("a & b ^ a >> b", a=a, b=b) == (a & b) ^ (a >> b)
    assert value_of("a << b", a=a, b=b) == a << b
    if a > 0:
        assert value_of("ctz(a)", a=a) == (a & -a).bit_length() - 1
