"""``for`` and ``if`` as both the step form and the graph form run them: the list, the names, the test.

The two forms run different bodies (steps on a value, or graph lines on a
namespace), but evaluate their loops and conditions the same way and fail
with the same located messages; the shared parts live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aggspec.errors import AggSpecError
from aggspec.lang import syntax as s
from aggspec.lang.expressions import Env, evaluate
from aggspec.values import show_value, type_name

__all__ = ["condition", "loop_items", "loop_names"]


def loop_items(iterable: s.Expr, env: Env) -> tuple[Any, ...]:
    """The list a ``for`` runs over; anything else is an error at the expression."""
    items = evaluate(iterable, env)
    if not isinstance(items, tuple):
        raise AggSpecError(
            f"'for' needs a list to loop over, got {type_name(items)} {show_value(items)}", iterable.span
        )
    return items


def loop_names(targets: Sequence[s.Name], destructure: bool, item: Any, iterable: s.Expr) -> dict[str, Any]:
    """The names one turn binds: the item, or its elements for ``for (a, b) in ...``."""
    if not destructure:
        return {targets[0].id: item}
    if not isinstance(item, tuple) or len(item) != len(targets):
        raise AggSpecError(f"cannot unpack {show_value(item)} into {len(targets)} names", iterable.span)
    return {t.id: v for t, v in zip(targets, item, strict=True)}


def condition(test: s.Expr, env: Env) -> bool:
    """An ``if``'s test, which must be a bool."""
    value = evaluate(test, env)
    if not isinstance(value, bool):
        raise AggSpecError(
            f"condition must be true or false, got {type_name(value)} {show_value(value)}", test.span
        )
    return value
