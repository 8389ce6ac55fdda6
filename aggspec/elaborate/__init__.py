"""Syntax tree to IR: parameters, definitions, loops, stages and merges.

``elaborate`` is the entry point. The work is split by construct:

==================  ===========================================================
``elaborator``      the driver and its state: declarations, the network, the
                    step loop, ``for`` and ``if``; ``verify`` on the result
``context``         the current value, node naming (``NameScope``), ``Context``
``calls``           op and definition calls, argument binding
``merging``         merges, projections, ``join``, ``residual``
``stages``          stages: layers, aggregation, units, emit, ``StageInfo``
``connectivity``    take and emit clauses to rule objects; take lists under limits
``graphs``          the explicit ``graph(x) { ... }`` form, its ``for`` and ``if``
``control``         what ``for`` and ``if`` share in the step and graph forms
==================  ===========================================================
"""

from __future__ import annotations

from aggspec.elaborate.elaborator import elaborate

__all__ = ["elaborate"]
