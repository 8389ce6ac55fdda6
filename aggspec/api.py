"""The Python entry points: parse, load and loads, and the ``Spec`` they return."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from aggspec.elaborate import elaborate
from aggspec.errors import AggSpecError
from aggspec.ir import Limits
from aggspec.lang.params import Override, from_python
from aggspec.lang.parser import parse
from aggspec.options import check_option, collect_params
from aggspec.spec import Spec

__all__ = ["Spec", "build_spec", "load", "loads", "parse", "read_source", "source_name"]


def read_source(path: str | os.PathLike[str], max_bytes: int = Limits.max_source_bytes) -> str:
    """The text of a spec file, ``-`` for standard input, read at most ``max_bytes`` far."""
    name = os.fspath(path)
    try:
        if name == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with open(name, "rb") as handle:
                data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise AggSpecError(
                f"the spec is longer than {max_bytes:,} bytes (raise the limit with --max-source-bytes)",
                filename=source_name(name),
            )
        return data.decode("utf-8-sig")  # tolerate a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AggSpecError(f"cannot read file: {reason}", filename=source_name(name)) from None


def source_name(path: str | os.PathLike[str]) -> str:
    """How messages name a spec: its path as given, ``<stdin>`` for ``-``."""
    name = os.fspath(path)
    return "<stdin>" if name == "-" else name


def build_spec(
    text: str,
    filename: str,
    overrides: Sequence[Override] = (),
    limits: Limits | None = None,
) -> Spec:
    """Parse and elaborate ``text``; the CLI passes ``-D`` overrides here."""
    max_bytes = (limits or Limits()).max_source_bytes
    if len(text) > max_bytes:  # characters: never more than the bytes they encode
        raise AggSpecError(
            f"the spec is longer than {max_bytes:,} bytes (raise the limit with --max-source-bytes)",
            filename=filename,
        )
    module = parse(text, filename, max_nesting=(limits or Limits()).max_nesting)
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
    text = read_source(path, (limits or Limits()).max_source_bytes)
    return loads(text, os.fspath(path), values, limits=limits)
