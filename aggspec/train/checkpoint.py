"""Checkpoints a kill cannot break: weights as safetensors, resume state beside them.

After every epoch a run directory holds

``last.safetensors``
    the model's weights (loads no code; ``aggspec eval`` and users read it),
    with metadata naming the network, its IR hash, the epoch and val_acc;
``best.safetensors``
    the same for the epoch with the best validation accuracy so far;
``last.state.pt``
    everything ``--resume`` needs, as plain tensors, numbers, strings, lists
    and dicts (so ``torch.load(weights_only=True)`` reads it): the epoch, the
    model's and the optimiser's state, the schedule, the RNG states, the
    metrics history, the spec text, its params, ``ir_hash`` and the aggspec
    and torch versions.

The resume state carries its own copy of the weights: two files cannot be
replaced together atomically, and a kill between writing new weights and new
state would otherwise pair epoch n's optimiser with epoch n+1's weights. Each
file is written by ``atomic_write`` (temporary file in the same folder,
flush, fsync, ``os.replace``, fsync of the folder), so under its final name a
file is always either the previous complete version or the new one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import networkx as nx
import torch

from aggspec.errors import AggSpecError
from aggspec.ir.graph import inputs_of

__all__ = [
    "BEST",
    "LAST",
    "STATE",
    "atomic_write",
    "canonical_params",
    "ir_hash",
    "load_state",
    "load_weights",
    "save_state",
    "save_weights",
]

LAST, BEST, STATE = "last.safetensors", "best.safetensors", "last.state.pt"


def ir_hash(graph: nx.MultiDiGraph) -> str:
    """A sha256 of the elaborated network: every node in order, its op, args, shape and inputs.

    Spans, roles and stage bookkeeping are left out: they do not change the
    model, so reformatting a spec keeps its hash while any change to what is
    computed (an op, an argument, a connection) changes it.

    >>> import aggspec
    >>> a = aggspec.loads("network T(input 1x8x8) { conv(4, 3) relu }")
    >>> b = aggspec.loads("network T(input 1x8x8) {\\n  conv(4, 3)\\n  relu\\n}")
    >>> c = aggspec.loads("network T(input 1x8x8) { conv(5, 3) relu }")
    >>> ir_hash(a.graph) == ir_hash(b.graph) != ir_hash(c.graph)
    True
    """
    digest = hashlib.sha256()
    for node, data in graph.nodes(data=True):
        record = [node, data["op"], data["args"], list(data["shape"]), inputs_of(graph, node)]
        digest.update(json.dumps(record, sort_keys=True, default=repr).encode("utf-8"))
        digest.update(b"\n")
    digest.update(json.dumps([graph.graph["input"], graph.graph["output"]]).encode("utf-8"))
    return digest.hexdigest()


def canonical_params(params: Mapping[str, Any]) -> str:
    """The params as sorted JSON (tuples become lists), so that equal params compare equal."""
    return json.dumps(dict(params), sort_keys=True, default=repr)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, never a mix.

    The bytes go to a temporary file in the same folder (``os.replace`` is
    atomic only within one file system), are flushed and fsynced, replace
    ``path`` in one step, and the folder is fsynced so the rename itself
    survives a power cut. On any error the temporary file is removed.
    """
    folder = path.parent
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, before the rename)
        dir=folder, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            _write_all(handle, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def _write_all(handle: IO[bytes], data: bytes) -> None:
    """Write in 1 MiB pieces (a test slows this down to kill a save half-way)."""
    piece = 1 << 20
    for start in range(0, len(data), piece):
        handle.write(data[start : start + piece])


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename is done regardless
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def save_weights(path: Path, state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """The weights as safetensors (contiguous CPU copies), written atomically."""
    from safetensors.torch import save

    tensors = {name: value.detach().to("cpu").contiguous() for name, value in state_dict.items()}
    data = save(tensors, metadata=dict(metadata))
    atomic_write(path, data)


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file; ``AggSpecError`` if it cannot be read."""
    from safetensors import safe_open

    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            for name in handle.keys():  # noqa: SIM118 (safe_open has no __iter__)
                tensors[name] = handle.get_tensor(name)
    except FileNotFoundError:
        raise AggSpecError("no such weights file", filename=str(path)) from None
    except (OSError, Exception) as exc:
        raise AggSpecError(f"cannot read weights: {exc}", filename=str(path)) from None
    return tensors, dict(metadata)


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    """The resume state (plain tensors and containers only), written atomically."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    data = buffer.getvalue()
    atomic_write(path, data)


def load_state(path: Path) -> dict[str, Any]:
    """The resume state at ``path``, read with ``weights_only=True`` (it runs no code)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise AggSpecError(
            "nothing to resume: no checkpoint here (train without --resume first)", filename=str(path)
        ) from None
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AggSpecError(f"cannot read checkpoint: {reason}", filename=str(path)) from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise AggSpecError("not an aggspec checkpoint", filename=str(path))
    return state
