"""Spec params apart from API options.

Every entry point that reads a spec (``load``, ``loads``, ``build``,
``analyze``) takes the spec's ``param`` overrides in two ways: one mapping,
``params={"depth": 40}``, which can hold any name, and keyword arguments,
``depth=40``, for convenience. Its own options (``limits``, ``init_seed``,
``verify``, ...) are keyword-only and type-checked, so a spec whose params are
named like an option is still fully usable (``params={"limits": 1}``), and a
param value passed by mistake into an option's keyword fails with a message
that says how to pass it instead of an ``AttributeError`` deep inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["check_option", "collect_params"]


def collect_params(
    function: str, params: Mapping[str, Any] | None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The param overrides of one call: the ``params`` mapping and keyword arguments together.

    >>> collect_params("load", {"limits": 1}, {"depth": 40})
    {'limits': 1, 'depth': 40}
    """
    if params is None:
        return dict(overrides)
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{function}(params=...) takes a mapping of param names to values, got {type(params).__name__}; "
            f"to override a spec param named 'params', write {function}(..., params={{'params': ...}})"
        )
    for name in params:
        if not isinstance(name, str):
            raise TypeError(f"{function}(params=...): param names are strings, got {name!r}")
    twice = sorted(set(params) & set(overrides))
    if twice:
        raise TypeError(f"{function}() got param {twice[0]!r} both in params= and as a keyword argument")
    return {**params, **overrides}


def check_option(
    function: str, option: str, value: Any, expected: type | tuple[type, ...], what: str
) -> None:
    """Refuse an option value of the wrong type, pointing at ``params=`` for same-named spec params.

    >>> check_option("load", "limits", 1, type(None), "an aggspec.Limits")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: load(limits=...) takes an aggspec.Limits, got int 1; ... pass params={'limits': 1}
    """
    bad_bool = isinstance(value, bool) and bool not in (
        expected if isinstance(expected, tuple) else (expected,)
    )
    if isinstance(value, expected) and not bad_bool:
        return
    raise TypeError(
        f"{function}({option}=...) takes {what}, got {type(value).__name__} {value!r}; "
        f"to override a spec param named {option!r}, pass params={{{option!r}: {value!r}}}"
    )
