"""Evaluation of .agg expressions: a small, closed, pure language.

Values are ints, floats, bools, strings and lists (kept as Python tuples so no
value can be mutated behind another's back). There is no way to reach Python,
files or the environment: names resolve only in an ``Env`` the elaborator
fills, and calls reach only the functions in ``FUNCTIONS``. Results are kept
small (``MAX_INT``, ``MAX_LIST``) so a spec cannot exhaust memory by arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aggspec.errors import AggSpecError
from aggspec.lang import syntax as s
from aggspec.values import show_value, type_name

__all__ = ["FUNCTIONS", "MAX_INT", "MAX_LIST", "MAX_VALUES", "Env", "Work", "evaluate", "source_text"]

Value = Any  # int | float | bool | str | tuple[Value, ...]

MAX_INT = 2**63 - 1
MAX_LIST = 1_000_000
MAX_VALUES = 10_000_000  # the elements of one value, nested lists included


class ExprError(Exception):
    """An evaluation failure; the caller attaches the span."""


class Work:
    """A budget of expression work, shared by every scope of one elaboration.

    Each expression node evaluated costs one unit and each list value made or
    compared costs one per element it holds (nested lists count every
    element), so no expression, however small its text, can run unbounded:
    ``[range(10**6)] * 10**6 == ...`` or a costly ``where`` condition asked of
    every pair fail at the expression that passes the budget.
    """

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def message(self) -> str:
        return (
            f"the spec's expressions need more than {self.limit:,} steps of work (large lists, "
            "loops over them, or a costly where condition; raise the limit with --max-work)"
        )


class Env:
    """Lexical scope: a frame of names over a parent frame, and the work budget they share."""

    def __init__(
        self, values: dict[str, Value] | None = None, parent: Env | None = None, *, work: Work | None = None
    ) -> None:
        self.values: dict[str, Value] = dict(values or {})
        self.parent = parent
        self.work: Work | None = parent.work if parent is not None else work

    def lookup(self, name: str) -> Value:
        env: Env | None = self
        while env is not None:
            if name in env.values:
                return env.values[name]
            env = env.parent
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        try:
            self.lookup(name)
        except KeyError:
            return False
        return True

    def names(self) -> Iterator[str]:
        env: Env | None = self
        while env is not None:
            yield from env.values
            env = env.parent

    def child(self, values: dict[str, Value] | None = None) -> Env:
        return Env(values, self)


def source_text(source: str, span: s.Span) -> str:
    """The text of ``span`` in ``source`` (single or multi-line)."""
    lines = source.split("\n")
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1 : span.end_col - 1]
    parts = [lines[span.line - 1][span.col - 1 :]]
    parts += lines[span.line : span.end_line - 1]
    parts.append(lines[span.end_line - 1][: span.end_col - 1])
    return " ".join(p.strip() for p in parts)


# ---------------------------------------------------------------- checks


def _number(value: Value, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(f"{what} must be a number, got {type_name(value)} {show_value(value)}")
    return value


def _int(value: Value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExprError(f"{what} must be an int, got {type_name(value)} {show_value(value)}")
    return value


def _small(value: Value) -> Value:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ExprError(f"integer result is too large (limit {MAX_INT})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError("numeric result is not finite")
    if isinstance(value, (tuple, str)) and len(value) > MAX_LIST:
        raise ExprError(f"result has {len(value)} elements, more than the limit of {MAX_LIST}")
    return value


# ---------------------------------------------------------------- built-in functions


@dataclass(frozen=True)
class Function:
    min_args: int
    max_args: int
    apply: Callable[[Sequence[Value]], Value]
    summary: str


def _min_max(name: str, pick: Callable[..., Value]) -> Callable[[Sequence[Value]], Value]:
    def apply(args: Sequence[Value]) -> Value:
        items = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
        if not items:
            raise ExprError(f"{name} of an empty list")
        return pick(_number(v, f"argument of {name}") for v in items)

    return apply


def _log2(args: Sequence[Value]) -> Value:
    x = _number(args[0], "argument of log2")
    if x <= 0:
        raise ExprError(f"log2 needs a positive number, got {show_value(x)}")
    return math.log2(x)


def _popcount(args: Sequence[Value]) -> Value:
    x = _int(args[0], "argument of popcount")
    if x < 0:
        raise ExprError(f"popcount needs a non-negative int, got {x}")
    return bin(x).count("1")


def _ctz(args: Sequence[Value]) -> Value:
    x = _int(args[0], "argument of ctz")
    if x <= 0:
        raise ExprError(f"ctz needs a positive int, got {x}")
    return (x & -x).bit_length() - 1


def _index(args: Sequence[Value]) -> Value:
    items, wanted = args
    if not isinstance(items, tuple):
        raise ExprError(f"index needs a list first, got {type_name(items)} {show_value(items)}")
    for position, item in enumerate(items):
        if _equal(item, wanted):
            return position
    raise ExprError(f"{show_value(wanted)} is not one of {show_value(items)}")


def _len(args: Sequence[Value]) -> Value:
    if not isinstance(args[0], (tuple, str)):
        raise ExprError(f"len needs a list or string, got {type_name(args[0])}")
    return len(args[0])


def _range(args: Sequence[Value]) -> Value:
    ints = [_int(a, "argument of range") for a in args]
    if len(ints) == 3 and ints[2] == 0:
        raise ExprError("range step must not be zero")
    r = range(*ints)
    size = r.__len__() if abs(r.stop - r.start) < MAX_INT else MAX_INT  # len() overflows past 2**63
    if size > MAX_LIST:
        raise ExprError(f"range has {size} elements, more than the limit of {MAX_LIST}")
    return tuple(r)


def _round_half_up(args: Sequence[Value]) -> Value:
    return math.floor(_number(args[0], "argument of round") + 0.5)


def _sum(args: Sequence[Value]) -> Value:
    if not isinstance(args[0], tuple):
        raise ExprError(f"sum needs a list, got {type_name(args[0])}")
    return sum(_number(v, "element of sum") for v in args[0])


FUNCTIONS: dict[str, Function] = {
    "min": Function(1, 64, _min_max("min", min), "smallest of the arguments, or of one list"),
    "max": Function(1, 64, _min_max("max", max), "largest of the arguments, or of one list"),
    "abs": Function(1, 1, lambda a: abs(_number(a[0], "argument of abs")), "absolute value"),
    "int": Function(1, 1, lambda a: int(_number(a[0], "argument of int")), "truncate a number to an int"),
    "float": Function(1, 1, lambda a: float(_number(a[0], "argument of float")), "convert to float"),
    "round": Function(1, 1, _round_half_up, "round to the nearest int, halves up"),
    "floor": Function(1, 1, lambda a: math.floor(_number(a[0], "argument of floor")), "round down"),
    "ceil": Function(1, 1, lambda a: math.ceil(_number(a[0], "argument of ceil")), "round up"),
    "log2": Function(1, 1, _log2, "base-2 logarithm (a float)"),
    "popcount": Function(1, 1, _popcount, "number of 1 bits of a non-negative int"),
    "ctz": Function(1, 1, _ctz, "trailing zero bits of a positive int: the largest n with 2**n dividing it"),
    "len": Function(1, 1, _len, "length of a list or string"),
    "index": Function(2, 2, _index, "index(list, x): the position of x in the list, an error if absent"),
    "range": Function(1, 3, _range, "range(stop) or range(start, stop[, step]) as a list"),
    "sum": Function(1, 1, _sum, "sum of a list of numbers"),
    "is_list": Function(1, 1, lambda a: isinstance(a[0], tuple), "whether the value is a list"),
}


# ---------------------------------------------------------------- operators


def _add(a: Value, b: Value) -> Value:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return _number(a, "left operand of +") + _number(b, "right operand of +")


def _mul(a: Value, b: Value) -> Value:
    if isinstance(a, tuple) and not isinstance(b, tuple):
        n = _int(b, "list repeat count")
        if len(a) * max(n, 0) > MAX_LIST:
            raise ExprError(f"list would have more than {MAX_LIST} elements")
        return a * n
    return _number(a, "left operand of *") * _number(b, "right operand of *")


def _divide(kind: str) -> Callable[[Value, Value], Value]:
    def apply(a: Value, b: Value) -> Value:
        x, y = _number(a, f"left operand of {kind}"), _number(b, f"right operand of {kind}")
        if y == 0:
            raise ExprError("division by zero")
        if kind == "/":
            return x / y
        if kind == "//":
            return x // y
        return x % y

    return apply


def _pow(a: Value, b: Value) -> Value:
    x, y = _number(a, "left operand of **"), _number(b, "right operand of **")
    if isinstance(x, int) and isinstance(y, int):
        if y < 0:
            if x == 0:
                raise ExprError("division by zero")
            return float(x) ** y
        if abs(x) > 1 and y * math.log2(abs(x)) > 63:
            raise ExprError(f"integer result is too large (limit {MAX_INT})")
    try:
        result = x**y
    except (OverflowError, ZeroDivisionError) as exc:
        raise ExprError(f"cannot compute {show_value(x)} ** {show_value(y)}") from exc
    if isinstance(result, complex):
        raise ExprError(f"({show_value(x)}) ** {show_value(y)} is not a real number")
    return result


def _ordered(op: str, compare: Callable[[Any, Any], bool]) -> Callable[[Value, Value], Value]:
    def apply(a: Value, b: Value) -> Value:
        if isinstance(a, str) and isinstance(b, str):
            return compare(a, b)
        return compare(_number(a, f"left operand of {op}"), _number(b, f"right operand of {op}"))

    return apply


def _bitwise(op: str) -> Callable[[Value, Value], Value]:
    def apply(a: Value, b: Value) -> Value:
        x, y = _int(a, f"left operand of {op}"), _int(b, f"right operand of {op}")
        if op == "&":
            return x & y
        if op == "^":
            return x ^ y
        if y < 0:
            raise ExprError(f"negative shift count {y}")
        if op == ">>":
            return x >> y
        if x and y + x.bit_length() > 63:
            raise ExprError(f"integer result is too large (limit {MAX_INT})")
        return x << y

    return apply


def _contains(a: Value, b: Value) -> bool:
    if isinstance(b, str):
        if not isinstance(a, str):
            raise ExprError(f"'in' a string needs a string on its left, got {type_name(a)}")
        return a in b
    if not isinstance(b, tuple):
        raise ExprError(f"'in' needs a list or string on its right, got {type_name(b)} {show_value(b)}")
    return any(_equal(a, item) for item in b)


_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "+": _add,
    "-": lambda a, b: _number(a, "left operand of -") - _number(b, "right operand of -"),
    "*": _mul,
    "/": _divide("/"),
    "//": _divide("//"),
    "%": _divide("%"),
    "**": _pow,
    "==": lambda a, b: _equal(a, b),
    "!=": lambda a, b: not _equal(a, b),
    "<": _ordered("<", lambda a, b: a < b),
    "<=": _ordered("<=", lambda a, b: a <= b),
    ">": _ordered(">", lambda a, b: a > b),
    ">=": _ordered(">=", lambda a, b: a >= b),
    "&": _bitwise("&"),
    "^": _bitwise("^"),
    "<<": _bitwise("<<"),
    ">>": _bitwise(">>"),
    "in": _contains,
    "not in": lambda a, b: not _contains(a, b),
}


def _equal(a: Value, b: Value) -> bool:
    # true == 1 is false in .agg: bools are not numbers.
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _truth(value: Value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"{what} must be true or false, got {type_name(value)} {show_value(value)}")
    return value


# ---------------------------------------------------------------- evaluation


def evaluate(expr: s.Expr, env: Env) -> Value:
    """The value of ``expr`` in ``env``; raises ``AggSpecError`` at the failing sub-expression."""
    return _eval(expr, env)


def _eval(expr: s.Expr, env: Env) -> Value:
    work = env.work
    if work is not None:
        work.left -= 1
        if work.left < 0:
            raise AggSpecError(work.message(), expr.span)
    if isinstance(expr, s.Literal):
        return expr.value
    if isinstance(expr, s.Name):
        try:
            return env.lookup(expr.id)
        except KeyError:
            raise AggSpecError(_unknown_name(expr.id, env), expr.span) from None
    if isinstance(expr, (s.ListExpr, s.TupleExpr)):
        items = tuple(_eval(item, env) for item in expr.items)
        try:
            return _charged(items, env)
        except ExprError as exc:
            raise AggSpecError(str(exc), expr.span) from None
    if isinstance(expr, s.UnaryOp):
        operand = _eval(expr.operand, env)
        try:
            if expr.op == "not":
                return not _truth(operand, "operand of 'not'")
            number = _number(operand, f"operand of unary {expr.op}")
            return -number if expr.op == "-" else number
        except ExprError as exc:
            raise AggSpecError(str(exc), expr.span) from None
    if isinstance(expr, s.BinaryOp):
        return _eval_binary(expr, env)
    if isinstance(expr, s.Conditional):
        try:
            test = _truth(_eval(expr.test, env), "condition")
        except ExprError as exc:
            raise AggSpecError(str(exc), expr.test.span) from None
        return _eval(expr.body if test else expr.orelse, env)
    if isinstance(expr, s.Index):
        return _eval_index(expr, env)
    if isinstance(expr, s.FuncCall):
        return _eval_call(expr, env)
    raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover


def _eval_binary(expr: s.BinaryOp, env: Env) -> Value:
    left = _eval(expr.left, env)
    try:
        if expr.op in ("and", "or"):
            if _truth(left, f"left operand of '{expr.op}'") == (expr.op == "or"):
                return left
            right = _eval(expr.right, env)
            return _truth(right, f"right operand of '{expr.op}'")
        right = _eval(expr.right, env)
        if expr.op in ("==", "!=") and isinstance(left, tuple) and isinstance(right, tuple):
            _spend(env, min(_weight(left), _weight(right)))  # comparing walks both
        if expr.op in ("in", "not in") and isinstance(right, tuple):
            _spend(env, _weight(right))  # membership walks the list
        return _charged(_small(_BINARY[expr.op](left, right)), env)
    except ExprError as exc:
        raise AggSpecError(str(exc), expr.span) from None
    except OverflowError:
        raise AggSpecError("numeric result is too large", expr.span) from None


def _eval_index(expr: s.Index, env: Env) -> Value:
    value = _eval(expr.value, env)
    index = _eval(expr.index, env)
    try:
        if not isinstance(value, (tuple, str)):
            raise ExprError(f"cannot index a value of type {type_name(value)}")
        i = _int(index, "index")
        if not -len(value) <= i < len(value):
            raise ExprError(f"index {i} is out of range for a list of length {len(value)}")
    except ExprError as exc:
        raise AggSpecError(str(exc), expr.span) from None
    return value[i]


def _eval_call(expr: s.FuncCall, env: Env) -> Value:
    function = FUNCTIONS.get(expr.func.id)
    if function is None:
        known = ", ".join(sorted(FUNCTIONS))
        raise AggSpecError(f"unknown function '{expr.func.id}' (functions: {known})", expr.func.span)
    args = [_eval(a, env) for a in expr.args]
    if not function.min_args <= len(args) <= function.max_args:
        expected = (
            str(function.min_args)
            if function.min_args == function.max_args
            else f"{function.min_args} to {function.max_args}"
        )
        raise AggSpecError(
            f"{expr.func.id} takes {expected} argument{'s' if expected != '1' else ''}, got {len(args)}",
            expr.span,
        )
    try:
        for arg in args:
            if isinstance(arg, tuple):
                _spend(env, len(arg))  # sum, min, max, len read their list
        return _charged(_small(function.apply(args)), env)
    except ExprError as exc:
        raise AggSpecError(str(exc), expr.span) from None
    except OverflowError:
        raise AggSpecError("numeric result is too large", expr.span) from None


def _weight(value: Value) -> int:
    """Elements in ``value`` counting nested lists' (shared ones each time), up to MAX_VALUES + 1."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            total += len(item)
            if total > MAX_VALUES:
                return total
            stack.extend(child for child in item if isinstance(child, tuple))
    return total


def _spend(env: Env, units: int) -> None:
    work = env.work
    if work is not None:
        work.left -= units
        if work.left < 0:
            raise ExprError(work.message())


def _charged(value: Value, env: Env) -> Value:
    """A list result, checked for its nested size and paid for."""
    if isinstance(value, tuple) and value:
        weight = _weight(value)
        if weight > MAX_VALUES:
            raise ExprError(f"result holds more than {MAX_VALUES:,} values, nested lists included")
        _spend(env, weight)
    return value


def _unknown_name(name: str, env: Env) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(set(env.names())), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown name '{name}'{hint}"
