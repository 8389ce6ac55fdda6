"""How a value of the language is named and spelled in messages and summaries.

Values of ``.agg`` expressions are Python ints, floats, bools, strings and
tuples (lists). Both the language and the registries describe them to users,
so the two functions live here, below both.
"""

from __future__ import annotations

__all__ = ["show_value", "type_name"]


def type_name(value: object) -> str:
    """The .agg name of a value's type, for messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple):
        return "list"
    return type(value).__name__


_SHOWN_ITEMS = 8


def show_value(value: object) -> str:
    """A value as .agg source would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, tuple):
        # Lists may share structure ([[0] * 1000] * 1000): never print more than a few items.
        shown = [show_value(v) for v in value[:_SHOWN_ITEMS]]
        if len(value) > _SHOWN_ITEMS:
            shown.append(f"... {len(value) - _SHOWN_ITEMS} more")
        return "[" + ", ".join(shown) + "]"
    if value is None:
        return "none"
    return repr(value)
