"""Parameter overrides: ``-D name=value`` on the command line, ``**params`` in Python.

An override must be a literal (a number, ``true``/``false``, a string or a
list of those; a bare word such as ``sum`` is a string) of a type the
parameter accepts: the types its declaration lists (``param growth: int | list
= 24``) or, when none are listed, the type of its default (an int is accepted
where the default is a float).
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aggspec.errors import AggSpecError
from aggspec.lang import syntax as s
from aggspec.lang.expressions import MAX_INT, MAX_LIST
from aggspec.values import show_value, type_name

__all__ = ["TYPE_NAMES", "Override", "check_override", "from_python", "parse_define", "parse_sweep"]

TYPE_NAMES = ("int", "float", "bool", "string", "list")
_TYPE_ALIASES = {"str": "string"}


@dataclass(frozen=True)
class Override:
    """A value given for a ``param`` from outside the file, with where it came from."""

    name: str
    value: Any
    origin: str  # the text the user gave, e.g. "growth=[16,32,64]"
    filename: str  # "<command line>" or "<arguments>"
    span: s.Span | None = None  # the value within ``origin``

    def error(self, message: str) -> AggSpecError:
        return AggSpecError(message, self.span, filename=self.filename, source=self.origin)


def parse_define(text: str) -> Override:
    """Parse one ``-D`` argument, ``name=value``."""
    from aggspec.lang.parser import parse_override  # the parser imports nothing from here

    name, expr = parse_override(text, filename="<command line>")
    value = _literal(expr, text)
    return Override(name.id, value, text, "<command line>", expr.span)


def parse_sweep(text: str) -> tuple[str, list[Override]]:
    """Parse ``--sweep name=v1,v2,...`` into the name and one override per value.

    Values are literals as for ``-D`` (a list value is written in brackets:
    ``growth=12,24,[16,32,64]``).
    """
    from aggspec.lang.parser import parse_override

    name, _, values = text.partition("=")
    listed = f"{name}=[{values}]"
    parsed_name, expr = parse_override(listed, filename="<command line>")
    if not isinstance(expr, s.ListExpr) or not expr.items:
        raise AggSpecError("--sweep needs NAME=V1,V2,...", filename="<command line>")
    overrides = [
        Override(parsed_name.id, _literal(item, listed), listed, "<command line>", item.span)
        for item in expr.items
    ]
    return parsed_name.id, overrides


def _literal(expr: s.Expr, text: str) -> Any:
    if isinstance(expr, s.Literal):
        return expr.value
    if isinstance(expr, s.Name):
        return expr.id  # a bare word: -D merge=sum
    if isinstance(expr, (s.ListExpr, s.TupleExpr)):
        return tuple(_literal(item, text) for item in expr.items)
    if (
        isinstance(expr, s.UnaryOp)
        and expr.op in "-+"
        and isinstance(expr.operand, s.Literal)
        and isinstance(expr.operand.value, (int, float))
        and not isinstance(expr.operand.value, bool)
    ):
        return -expr.operand.value if expr.op == "-" else expr.operand.value
    raise AggSpecError(
        "a parameter override must be a literal: a number, true/false, a string or a list of those",
        expr.span,
        filename="<command line>",
        source=text,
    )


def from_python(name: str, value: Any) -> Override:
    """An override passed as a Python keyword argument, held to the bounds of ``-D`` and literals."""
    origin = f"{name}={reprlib.repr(value)}"  # bounded: the value may be huge or deeply nested
    return Override(name, _from_python(value, origin), origin, "<arguments>")


def _from_python(value: Any, origin: str) -> Any:
    """The .agg value of a Python value, converted without recursion (a list may nest arbitrarily)."""
    lists: list[list[Any]] = []  # finished children of each open list
    pending: list[tuple[Any, int]] = [(value, 0)]  # (value, depth); a marker closes a list
    result: list[Any] = []
    count = 0
    while pending:
        item, depth = pending.pop()
        if item is _CLOSE:
            done = tuple(lists.pop())
            (lists[-1] if lists else result).append(done)
            continue
        count += 1
        if count > MAX_LIST or depth > _MAX_DEPTH:
            raise _bad(origin, f"has more than {MAX_LIST:,} elements or nests deeper than {_MAX_DEPTH}")
        if isinstance(item, (list, tuple)):
            lists.append([])
            pending.append((_CLOSE, depth))
            pending.extend((child, depth + 1) for child in reversed(item))
            continue
        (lists[-1] if lists else result).append(_scalar(item, origin))
    return result[0]


_CLOSE = object()
_MAX_DEPTH = 1000  # as deep as a spec may nest (parser.MAX_NESTING)


def _scalar(value: Any, origin: str) -> Any:
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise _bad(origin, f"holds an integer beyond the limit of {MAX_INT:,}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(origin, f"holds {value}, which is not a finite number")
        return value
    raise _bad(origin, f"holds a {type(value).__name__}; use an int, float, bool, str or a list of those")


def _bad(origin: str, reason: str) -> AggSpecError:
    return AggSpecError(f"parameter value {origin} {reason}", filename="<arguments>")


def accepted_types(param: s.Param, default: Any) -> tuple[str, ...]:
    if param.types:
        return tuple(_TYPE_ALIASES.get(t.id, t.id) for t in param.types)
    return (type_name(default),)


def check_type_names(param: s.Param) -> None:
    for type_ in param.types:
        if _TYPE_ALIASES.get(type_.id, type_.id) not in TYPE_NAMES:
            raise AggSpecError(f"unknown type '{type_.id}' (types: {', '.join(TYPE_NAMES)})", type_.span)


def check_override(param: s.Param, default: Any, override: Override) -> Any:
    """The override's value if the parameter accepts its type; else a located error."""
    accepted = accepted_types(param, default)
    got = type_name(override.value)
    if got in accepted:
        return override.value
    if got == "int" and "float" in accepted:
        return float(override.value)
    wanted = " or ".join(accepted)
    raise override.error(
        f"parameter '{param.name.id}' takes {wanted}, got {got} {show_value(override.value)}"
    )


def check_default(param: s.Param, default: Any) -> Any:
    """The default, as the declared type; a declared type list must admit it."""
    if not param.types:
        return default
    accepted = accepted_types(param, default)
    got = type_name(default)
    if got in accepted:
        return default
    if got == "int" and "float" in accepted:
        return float(default)  # param w: float = 16 is 16.0, as -D w=16 would be
    raise AggSpecError(
        f"default of '{param.name.id}' is {got} {show_value(default)}, not {' or '.join(accepted)}",
        param.default.span,
    )


def unknown_overrides(overrides: Mapping[str, Override], declared: list[str]) -> None:
    for name, override in overrides.items():
        if name not in declared:
            known = ", ".join(declared) if declared else "none"
            raise AggSpecError(
                f"unknown parameter '{name}' (parameters: {known})",
                filename=override.filename,
                source=override.origin,
                span=s.Span(1, 1, 1, len(name) + 1) if override.filename == "<command line>" else None,
            )
