"""A ``where`` condition evaluated for every j of one layer at once, where that is provably exact.

``take where <condition>`` asks the condition of every pair (l, j), j < l:
half a million pairs for a 1,000-layer stage. The interpreter
(``expressions.evaluate``) pays a tree walk per pair; here the condition
becomes whole-column arithmetic over ``j = 0 .. l-1`` in numpy, once per
layer. Sub-expressions that do not mention ``j`` are evaluated once per
layer by the interpreter itself, so they keep its semantics exactly.

The column evaluation covers ints and bools: ``+ - * // %``, unary ``-``,
comparisons, ``and``/``or``/``not``, ``x if c else y``, and ``abs``, ``min``,
``max`` and ``popcount``. Whenever it cannot promise the interpreter's answer
(a float, a possible overflow, a zero divisor, a type the interpreter would
reject, an error in a sub-expression the interpreter might have skipped
by short-circuiting) it gives up for that layer and returns ``None``; the
caller then asks the interpreter pair by pair, which gives the same result
or the same located error as if there were no fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from aggspec.errors import AggSpecError
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env, evaluate

__all__ = ["column_selector"]

# Int columns stay below this magnitude, so no int64 operation on them can wrap.
_SAFE = 2**62

Column = Any  # np.ndarray of int64 or bool, or a plain value that does not depend on j


class _Inexact(Exception):
    """The column evaluation cannot promise the interpreter's result for this layer."""


def column_selector(condition: s.Expr, env: Env) -> Callable[[int, int], list[int] | None]:
    """``select(l, L)``: the j < l for which ``condition`` holds, ascending, or ``None`` to defer."""
    return _Columns(condition, env).select


class _Columns:
    def __init__(self, condition: s.Expr, env: Env) -> None:
        self.condition = condition
        self.env = env
        self.varies: dict[int, bool] = {}  # id(expr) -> whether it mentions j

    def select(self, l: int, L: int) -> list[int] | None:
        scope = self.env.child({"l": l, "L": L})
        j = np.arange(l, dtype=np.int64)
        try:
            result = self._eval(self.condition, scope, j)
        except (_Inexact, AggSpecError):
            return None
        if isinstance(result, np.ndarray) and result.dtype == np.bool_:
            return [int(i) for i in np.flatnonzero(result)]
        if isinstance(result, bool):
            return list(range(l)) if result else []
        return None  # not a bool: the interpreter says so, at its location

    # ------------------------------------------------------------ evaluation

    def _mentions_j(self, expr: s.Expr) -> bool:
        key = id(expr)
        if key not in self.varies:
            self.varies[key] = _mentions(expr, "j")
        return self.varies[key]

    def _eval(self, expr: s.Expr, scope: Env, j: np.ndarray) -> Column:
        value = self._column(expr, scope, j)
        return value.item() if isinstance(value, np.generic) else value  # numpy scalars as Python's

    def _column(self, expr: s.Expr, scope: Env, j: np.ndarray) -> Column:
        if not self._mentions_j(expr):
            return evaluate(expr, scope)  # exact by construction; an error defers the layer
        if isinstance(expr, s.Name):  # the only name that mentions j is j
            return j
        if isinstance(expr, s.UnaryOp):
            return self._unary(expr, scope, j)
        if isinstance(expr, s.BinaryOp):
            return self._binary(expr, scope, j)
        if isinstance(expr, s.Conditional):
            return self._conditional(expr, scope, j)
        if isinstance(expr, s.FuncCall):
            return self._call(expr, scope, j)
        raise _Inexact  # lists, indexing: per pair

    def _unary(self, expr: s.UnaryOp, scope: Env, j: np.ndarray) -> Column:
        operand = self._eval(expr.operand, scope, j)
        if expr.op == "not":
            return np.logical_not(_bools(operand))
        ints = _ints(operand)
        return -ints if expr.op == "-" else ints

    def _binary(self, expr: s.BinaryOp, scope: Env, j: np.ndarray) -> Column:
        left = self._eval(expr.left, scope, j)
        if expr.op in ("and", "or"):
            return self._logical(expr, left, scope, j)
        right = self._eval(expr.right, scope, j)
        if expr.op in ("==", "!="):
            return _equality(expr.op, left, right)
        if expr.op in ("<", "<=", ">", ">="):
            a, b = _ints(left), _ints(right)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[expr.op]
        a, b = _ints(left), _ints(right)
        if expr.op in ("+", "-"):
            _fits(_bound(a) + _bound(b))
            return a + b if expr.op == "+" else a - b
        if expr.op == "*":
            _fits(_bound(a) * _bound(b))
            return a * b
        if expr.op in ("//", "%"):
            if np.any(np.asarray(b) == 0):
                raise _Inexact  # the interpreter reports the pair, if it reaches one
            return a // b if expr.op == "//" else a % b
        if expr.op in ("&", "^"):  # exact on int64, negative operands included (two's complement)
            return a & b if expr.op == "&" else a ^ b
        if expr.op == ">>":
            if np.any(np.asarray(b) < 0) or np.any(np.asarray(b) > 62):
                raise _Inexact  # a negative count is the interpreter's error to report
            return a >> b
        raise _Inexact  # / and ** make floats or huge ints, << may overflow; 'in' takes lists

    def _logical(self, expr: s.BinaryOp, left: Column, scope: Env, j: np.ndarray) -> Column:
        """``and``/``or``: a plain left operand short-circuits as in the interpreter."""
        first = _bools(left)
        if not isinstance(first, np.ndarray) and first == (expr.op == "or"):
            return first
        second = _bools(self._eval(expr.right, scope, j))
        return first & second if expr.op == "and" else first | second

    def _conditional(self, expr: s.Conditional, scope: Env, j: np.ndarray) -> Column:
        test = _bools(self._eval(expr.test, scope, j))
        if not isinstance(test, np.ndarray):
            return self._eval(expr.body if test else expr.orelse, scope, j)
        body, orelse = self._eval(expr.body, scope, j), self._eval(expr.orelse, scope, j)
        if _is_bool(body) and _is_bool(orelse):
            return np.where(test, body, orelse)
        return np.where(test, _ints(body), _ints(orelse))

    def _call(self, expr: s.FuncCall, scope: Env, j: np.ndarray) -> Column:
        name = expr.func.id
        args = [_ints(self._eval(a, scope, j)) for a in expr.args]
        if name == "abs" and len(args) == 1:
            return np.abs(args[0])
        if name in ("min", "max") and 2 <= len(args) <= 64:
            pick = np.minimum if name == "min" else np.maximum
            result = args[0]
            for arg in args[1:]:
                result = pick(result, arg)
            return result
        if name == "popcount" and len(args) == 1:
            values = np.asarray(args[0], dtype=np.int64)
            if np.any(values < 0):
                raise _Inexact
            return _popcount(values)
        if name == "ctz" and len(args) == 1:
            values = np.asarray(args[0], dtype=np.int64)
            if np.any(values <= 0):
                raise _Inexact  # the interpreter's "ctz needs a positive int"
            return _popcount((values & -values) - 1)  # the bits below the lowest set one
        raise _Inexact


def _mentions(expr: Any, name: str) -> bool:
    """Whether a ``Name`` ``name`` occurs anywhere in the expression tree."""
    if isinstance(expr, s.Name):
        return bool(expr.id == name)
    if isinstance(expr, (list, tuple)):
        return any(_mentions(item, name) for item in expr)
    fields = getattr(expr, "__dataclass_fields__", None)
    if fields is None:
        return False
    return any(_mentions(getattr(expr, field), name) for field in fields if field != "span")


def _is_bool(value: Column) -> bool:
    return isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == np.bool_)


def _bools(value: Column) -> Column:
    if not _is_bool(value):
        raise _Inexact  # the interpreter's "must be true or false"
    return value


def _ints(value: Column) -> Column:
    if isinstance(value, np.ndarray):
        if value.dtype != np.int64:
            raise _Inexact
        return value
    if type(value) is not int or abs(value) >= _SAFE:
        raise _Inexact  # bools, floats, strings, lists and huge ints go pair by pair
    return value


def _bound(value: Column) -> int:
    if isinstance(value, np.ndarray):
        return int(np.abs(value).max()) if value.size else 0
    return abs(int(value))


def _fits(bound: int) -> None:
    if bound >= _SAFE:
        raise _Inexact


def _equality(op: str, left: Column, right: Column) -> Column:
    """``==``/``!=`` between two ints or two bools (a bool never equals a number in .agg)."""
    if _is_bool(left) and _is_bool(right):
        equal = np.equal(left, right)
    else:
        equal = np.equal(_ints(left), _ints(right))
    return equal if op == "==" else np.logical_not(equal)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Bits set in each non-negative int64: numpy 2's ``bitwise_count``, else the classic bit-slicing sum."""
    if hasattr(np, "bitwise_count"):
        counts: np.ndarray = np.bitwise_count(values).astype(np.int64)
        return counts
    return _popcount_sliced(values)


def _popcount_sliced(values: np.ndarray) -> np.ndarray:
    """Bits set in each non-negative int64, by summing bit slices in place (numpy 1)."""
    x = values.astype(np.uint64)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    counts: np.ndarray = ((x * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)
    return counts
