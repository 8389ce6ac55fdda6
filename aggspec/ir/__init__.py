"""The IR and its registries: the contract between the front and the back half.

``graph`` documents the IR (a ``networkx.MultiDiGraph``) and ``verify``
checks it;
``ops``, ``merges`` and ``rules`` are the registries every stage reads;
``shapes`` and ``signature`` are what the registries share. Nothing here
imports the parser, the elaborator or a back end.
"""

from __future__ import annotations

from aggspec.ir.graph import IRBuilder, IRError, Limits, StageInfo, inputs_of
from aggspec.ir.verify import verify

__all__ = ["IRBuilder", "IRError", "Limits", "StageInfo", "inputs_of", "verify"]
