"""Functions by dotted path and back: how registry entries name torch and how source prints it.

Registry entries name the functions their lowering calls by path
(``"torch.cat"``), so that they need not import torch; ``resolve`` turns the
path into the function. The source printer goes the other way: ``spell`` finds
the public path by which the emitted file can call any function an fx graph
holds (``torch.nn.functional.relu``, ``operator.add``, ``getattr``), or its
bare name for the functions of ``aggspec.pytorch.runtime`` the file defines.
"""

from __future__ import annotations

import builtins
import functools
import importlib
from dataclasses import dataclass
from typing import Any

from aggspec.pytorch import runtime

__all__ = ["Spelling", "resolve", "spell"]

# Modules an emitted file may call into: torch and two standard-library modules.
_IMPORTABLE_ROOTS = frozenset({"torch", "math", "operator"})
# Where PyTorch's built-in functions are public, whatever their __module__ says.
_PUBLIC_HOMES = ("torch.nn.functional", "torch", "torch.Tensor")


@functools.cache
def resolve(path: str) -> Any:
    """The object a dotted path names: its longest importable prefix, then attributes.

    >>> import operator
    >>> resolve("operator.add") is operator.add
    True
    """
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                found = getattr(found, attribute)
        except AttributeError:
            break
        return found
    raise LookupError(f"{path!r} names no importable function")


@dataclass(frozen=True)
class Spelling:
    """How emitted source calls a function: ``text(...)``, after ``import module`` if any."""

    text: str
    module: str | None = None  # the module to import, None for builtins and runtime definitions
    runtime: bool = False  # a definition of aggspec.pytorch.runtime, copied into the file


def spell(function: Any) -> Spelling:
    """How emitted source names ``function``; ``ValueError`` if it cannot without more imports.

    >>> import torch
    >>> spell(torch.nn.functional.relu).text, spell(torch.cat).text
    ('torch.nn.functional.relu', 'torch.cat')
    """
    if any(function is definition for definition in runtime.RUNTIME_DEFINITIONS):
        return Spelling(function.__name__, runtime=True)
    name = getattr(function, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(f"cannot print a call of {function!r}: it has no name")
    if getattr(builtins, name, None) is function:
        return Spelling(name)
    module = getattr(function, "__module__", None)
    candidates = [f"{home}.{name}" for home in _PUBLIC_HOMES]
    if isinstance(module, str):
        module = "operator" if module == "_operator" else module
        qualified = f"{module}.{name}"
        # the function's own module first, unless it is private (torch._C._nn.gelu)
        if "._" in f".{module}":
            candidates.append(qualified)
        else:
            candidates.insert(0, qualified)
    for candidate in candidates:
        root = candidate.split(".")[0]
        if root in _IMPORTABLE_ROOTS and _names(candidate, function):
            return Spelling(candidate, candidate.rsplit(".", 1)[0].removesuffix(".Tensor"))
    raise ValueError(
        f"cannot print a call of {function!r}: an emitted file may call only torch, math, "
        "operator, builtins and aggspec.pytorch.runtime"
    )


def _names(path: str, function: Any) -> bool:
    try:
        return resolve(path) is function
    except LookupError:
        return False
