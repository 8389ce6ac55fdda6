"""The Python entry points: parse, load and loads, and the ``Spec`` they return."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from aggspec.elaborate import elaborate
from aggspec.errors import AggSpecError
from aggspec.ir import Limits
from aggspec.lang.params import Override, from_python
from aggspec.lang.parser import parse
from aggspec.options import check_option, collect_params
from aggspec.spec import Spec

__all__ = ["Spec", "build_spec", "load", "loads", "parse", "read_source"]


def read_source(path: str | os.PathLike[str]) -> str:
    try:
        with open(path, encoding="utf-8-sig") as handle:  # tolerate a byte-order mark
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AggSpecError(f"cannot read file: {reason}", filename=os.fspath(path)) from None


def build_spec(
    text: str,
    filename: str,
    overrides: Sequence[Override] = (),
    limits: Limits | None = None,
) -> Spec:
    """Parse and elaborate ``text``; the CLI passes ``-D`` overrides here."""
    module = parse(text, filename)
    return Spec(elaborate(module, overrides, limits=limits), module)


def loads(
    text: str,
    filename: str = "<string>",
    params: Mapping[str, Any] | None = None,
    *,
    limits: Limits | None = None,
    **overrides: Any,
) -> Spec:
    """Elaborate .agg source ``text``; ``params`` and keyword arguments override its ``param`` values.

    A param named like an option of this function (``limits``, ``filename``,
    ``params``) can always be given in the ``params`` mapping.

    >>> spec = loads("network Tiny(input 3x8x8) { conv(4, 3) relu }")
    >>> spec.output_shape
    (4, 8, 8)
    >>> text = "param limits = 1; network T(input 3x8x8) { conv(limits, 3) }"
    >>> loads(text, params={"limits": 2}).output_shape
    (2, 8, 8)
    """
    check_option("loads", "filename", filename, str, "a string")
    check_option("loads", "limits", limits, (Limits, type(None)), "an aggspec.Limits")
    values = collect_params("loads", params, overrides)
    return build_spec(text, filename, [from_python(name, value) for name, value in values.items()], limits)


def load(
    path: str | os.PathLike[str],
    params: Mapping[str, Any] | None = None,
    *,
    limits: Limits | None = None,
    **overrides: Any,
) -> Spec:
    """Elaborate the .agg file at ``path``; ``params`` and keyword arguments override its ``param`` values."""
    check_option("load", "limits", limits, (Limits, type(None)), "an aggspec.Limits")
    values = collect_params("load", params, overrides)
    return loads(read_source(path), os.fspath(path), values, limits=limits)
