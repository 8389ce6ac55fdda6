"""Training: data (``data``), the loop (``loop``), checkpoints and distributed runs.

Heavier than the rest of aggspec (torch, scikit-learn's bundled digits,
safetensors, Pillow), so nothing outside ``cli`` and ``aggspec.train`` /
``aggspec.evaluate`` imports it.

``aggspec.train`` is both this subpackage and the function that trains a
spec: the import system binds ``aggspec.train`` to this module whenever any
``aggspec.train.*`` module is imported, so a function stored under that name
would be replaced (or would hide ``aggspec.train.data``). The module is made
callable instead: ``aggspec.train(spec, ...)`` is ``aggspec.train.loop.train``,
imported on the first call, and ``aggspec.train.data`` still works.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aggspec.train.loop import TrainResult


class _CallablePackage(types.ModuleType):
    """This package, callable as ``aggspec.train(...)``."""

    def __call__(self, *args: Any, **kwargs: Any) -> TrainResult:
        from aggspec.train.loop import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
