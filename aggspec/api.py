"""The Python entry points: parse, load and loads, and the ``Spec`` they return."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from aggspec import syntax as s
from aggspec.elaborate import elaborate
from aggspec.errors import AggSpecError
from aggspec.ir import Limits, StageInfo
from aggspec.ops import Shape
from aggspec.params import Override, from_python
from aggspec.parser import parse

__all__ = ["Spec", "load", "loads", "parse", "read_source"]


@dataclass(frozen=True)
class Spec:
    """An elaborated network: the IR ``graph`` and the syntax tree it came from."""

    graph: nx.DiGraph
    module: s.Module

    @property
    def name(self) -> str:
        return str(self.graph.graph["name"])

    @property
    def filename(self) -> str:
        return self.module.filename

    @property
    def params(self) -> dict[str, Any]:
        """The value of every ``param``, overrides applied (lists are tuples)."""
        return dict(self.graph.graph["params"])

    @property
    def input_shape(self) -> Shape:
        return tuple(self.graph.nodes[self.graph.graph["input"]]["shape"])

    @property
    def output_shape(self) -> Shape:
        return tuple(self.graph.nodes[self.graph.graph["output"]]["shape"])

    @property
    def stages(self) -> list[StageInfo]:
        return list(self.graph.graph["stages"])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows a Spec as its layer diagram (SVG), when graphviz's dot is installed."""
        bundle = {"text/plain": repr(self)}
        svg = self._repr_svg_()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle

    def _repr_svg_(self) -> str | None:
        import graphviz

        from aggspec.viz import draw  # viz reads Spec; import here to keep the modules acyclic

        try:
            svg: bytes = draw(self).pipe(format="svg")
            return svg.decode("utf-8")
        except graphviz.ExecutableNotFound:
            return None

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        return (
            f"<Spec {self.name}({shape}) from {self.filename}: "
            f"{self.graph.number_of_nodes()} nodes, {len(self.stages)} stages>"
        )


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


def loads(text: str, filename: str = "<string>", *, limits: Limits | None = None, **params: Any) -> Spec:
    """Elaborate .agg source ``text``; keyword arguments override its ``param`` values.

    >>> spec = loads("network Tiny(input 3x8x8) { conv(4, 3) relu }")
    >>> spec.output_shape
    (4, 8, 8)
    """
    overrides = [from_python(name, value) for name, value in params.items()]
    return build_spec(text, filename, overrides, limits)


def load(path: str | os.PathLike[str], *, limits: Limits | None = None, **params: Any) -> Spec:
    """Elaborate the .agg file at ``path``; keyword arguments override its ``param`` values."""
    return loads(read_source(path), os.fspath(path), limits=limits, **params)
