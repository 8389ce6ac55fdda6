"""IR to pictures: graphviz diagrams at three levels (``graphviz``) and
connectivity matrices (``matrix``)."""

from __future__ import annotations

from aggspec.viz.graphviz import COLOURS, LEVELS, DotMissing, draw, render
from aggspec.viz.matrix import connectivity_matrix, matrix_figure

__all__ = ["COLOURS", "LEVELS", "DotMissing", "connectivity_matrix", "draw", "matrix_figure", "render"]
