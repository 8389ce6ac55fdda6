"""Argument binding for built-in ops, merges and connectivity rules.

Each registry entry declares a ``Signature``; the elaborator evaluates the
call's arguments and asks the signature to bind them. Binding fills defaults
and checks types; a failure names the argument so the error can point at it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aggspec.values import show_value, type_name

__all__ = ["REQUIRED", "Parameter", "Signature", "SignatureError"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

# What each declared kind accepts. ``float`` accepts ints (as Python does).
_KINDS = ("int", "float", "bool", "str", "any")


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    default: Any = REQUIRED

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(
                f"parameter {self.name!r}: unknown kind {self.kind!r} (kinds: {', '.join(_KINDS)})"
            )

    def accepts(self, value: object) -> bool:
        if self.kind == "any":
            return True
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind == "int":
            return isinstance(value, int)
        if self.kind == "float":
            return isinstance(value, (int, float))
        return isinstance(value, str)

    def coerce(self, value: Any) -> Any:
        return float(value) if self.kind == "float" else value


class SignatureError(Exception):
    """A binding failure. ``argument`` is a positional index, a keyword name, or None."""

    def __init__(self, message: str, argument: int | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.argument = argument


@dataclass(frozen=True)
class Signature:
    """Positional-or-keyword parameters, optionally followed by ``*rest`` of one kind."""

    parameters: tuple[Parameter, ...] = ()
    rest: Parameter | None = None  # e.g. offsets(1, 2, 4), or offsets([1, 2, 4]): any number of ints

    def bind(self, owner: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Map ``args``/``kwargs`` to parameter names; ``owner`` names the callee in messages."""
        bound: dict[str, Any] = {}
        if len(args) > len(self.parameters) and self.rest is None:
            raise SignatureError(
                f"{owner} takes {_count(len(self.parameters), 'argument')}, got {len(args)}",
                len(self.parameters),
            )
        for index, value in enumerate(args[: len(self.parameters)]):
            parameter = self.parameters[index]
            bound[parameter.name] = self._check(owner, parameter, value, index)
        if self.rest is not None:
            extra = args[len(self.parameters) :]
            if len(extra) == 1 and isinstance(extra[0], tuple):
                extra = extra[0]  # one list stands for its elements: offsets(gaps) is offsets(1, 2, 4)
            bound[self.rest.name] = tuple(
                self._check(owner, self.rest, value, len(self.parameters) + i)
                for i, value in enumerate(extra)
            )
        by_name = {p.name: p for p in self.parameters}
        for name, value in kwargs.items():
            if name not in by_name:
                known = ", ".join(p.name for p in self.parameters) or "none"
                raise SignatureError(f"{owner} has no argument '{name}' (its arguments: {known})", name)
            if name in bound:
                raise SignatureError(f"{owner} got argument '{name}' twice", name)
            bound[name] = self._check(owner, by_name[name], value, name)
        for parameter in self.parameters:
            if parameter.name not in bound:
                if parameter.default is REQUIRED:
                    raise SignatureError(f"{owner} needs argument '{parameter.name}'")
                bound[parameter.name] = parameter.default
        return bound

    @staticmethod
    def _check(owner: str, parameter: Parameter, value: Any, where: int | str) -> Any:
        if not parameter.accepts(value):
            raise SignatureError(
                f"argument '{parameter.name}' of {owner} must be {_article(parameter.kind)}, "
                f"got {type_name(value)} {show_value(value)}",
                where,
            )
        return parameter.coerce(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _article(kind: str) -> str:
    return {"int": "an int", "float": "a number", "bool": "true or false", "str": "a string"}.get(kind, kind)
