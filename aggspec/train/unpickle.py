"""Reading the CIFAR python-format batches without letting a pickle run code.

The CIFAR batches are pickles, and ``pickle.load`` on a file from the internet
will call whatever function the file names (``os.system`` included). A batch
only ever holds a dict of numpy arrays, lists, ints and byte strings, so
``load_restricted`` unpickles with a ``find_class`` that hands out numpy's array
reconstruction and nothing else: any other global the file asks for stops the
load before anything is called, with a one-line ``AggSpecError`` naming the file.

The allowlist, and why each entry is there:

``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``
    how ``ndarray.__reduce__`` rebuilds an array (the real files, written by
    Python 2 with numpy 1, spell it ``numpy.core``; numpy 2 spells it ``numpy._core``).
``numpy.ndarray``
    the class ``_reconstruct`` is asked to build.
``numpy.dtype``
    the element type of the array (``uint8`` pixels).

Each name maps to the object itself, resolved here, so the unpickler never
imports a module by a name the file chose.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from aggspec.errors import AggSpecError

__all__ = ["ALLOWED_GLOBALS", "RefusedGlobal", "RestrictedUnpickler", "load_restricted"]

ALLOWED_GLOBALS: tuple[tuple[str, str], ...] = (
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
)


def _reconstruct() -> Any:
    """numpy's ``_reconstruct``, from wherever this numpy keeps it (``numpy.core`` warns on numpy 2)."""
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return getattr(importlib.import_module(module), "_reconstruct")  # noqa: B009 (private name)
        except (ImportError, AttributeError):
            continue
    raise RuntimeError("numpy has no _reconstruct; aggspec does not know this numpy")  # pragma: no cover


def _resolved() -> dict[tuple[str, str], Any]:
    reconstruct = _reconstruct()
    objects = {"_reconstruct": reconstruct, "ndarray": np.ndarray, "dtype": np.dtype}
    return {(module, name): objects[name] for module, name in ALLOWED_GLOBALS}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle asked for a global outside the allowlist; ``name`` is what it asked for."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are numpy's array reconstruction (see the module docstring).

    ``find_class`` is the one door through which a pickle reaches callables
    (GLOBAL, STACK_GLOBAL and the copyreg extension opcodes all go through it),
    so refusing here refuses before anything is called.
    """

    def __init__(self, file: BinaryIO) -> None:
        # The real files were written by Python 2: their strings are bytes to us.
        super().__init__(file, encoding="bytes")
        self._allowed = _resolved()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        # The base class refuses too; said here so that no subclass of it is ever consulted.
        raise pickle.UnpicklingError("persistent ids are not supported")


def load_restricted(path: Path, what: str) -> object:
    """The object pickled in ``path``, or an ``AggSpecError`` naming ``path`` in one line.

    ``what`` names the file's role in the message ("CIFAR batch").
    """
    try:
        with path.open("rb") as file:
            return RestrictedUnpickler(file).load()
    except RefusedGlobal as refused:
        raise AggSpecError(
            f"refused to load this {what}: the pickle asks for {refused.name}, which a {what} never "
            "holds (loading it could run code); only numpy arrays are accepted",
            filename=str(path),
        ) from None
    except OSError as error:
        reason = error.strerror or one_line(error)
        raise AggSpecError(f"cannot read this {what}: {reason}", filename=str(path)) from None
    except Exception as error:  # whatever a corrupt pickle makes pickle or numpy raise
        raise AggSpecError(
            f"not a readable {what} (truncated or corrupt pickle: {one_line(error)})", filename=str(path)
        ) from None


def one_line(error: BaseException) -> str:
    """``error`` as a short single line: its type, and its message's first line if it has one."""
    text = " ".join(str(error).split())
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
