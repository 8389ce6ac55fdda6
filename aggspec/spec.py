"""``Spec``: an elaborated network, the value every back end takes.

A ``Spec`` pairs the IR (``graph``, see ``aggspec.ir``) with the syntax tree
it came from (for its file name and source text, which errors found later
point into). It imports neither the parser nor any back end, so analysis,
diagrams and the PyTorch compiler can take it without pulling in lark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from aggspec.errors import AggSpecError
from aggspec.ir import StageInfo
from aggspec.ir.shapes import Shape
from aggspec.lang import syntax as s

__all__ = ["Spec"]


@dataclass(frozen=True)
class Spec:
    """An elaborated network: the IR ``graph`` and the syntax tree it came from."""

    graph: nx.MultiDiGraph
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

    def error(self, message: str) -> AggSpecError:
        """A user error about the whole network, located at its ``network`` declaration's name."""
        network = next(d for d in self.module.declarations if isinstance(d, s.Network))
        return AggSpecError(message, network.name.span, filename=self.filename, source=self.module.source)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter shows a Spec as its layer diagram (SVG), when graphviz's dot is installed."""
        bundle = {"text/plain": repr(self)}
        svg = self._repr_svg_()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle

    def _repr_svg_(self) -> str | None:
        import graphviz

        from aggspec.viz.graphviz import draw  # viz reads Spec: a light import here, a cycle at the top

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
