"""The shape check of ``build``: every node of the program run on meta tensors, against the IR.

An op whose registry shape rule disagrees with what PyTorch computes is
aggspec's bug; this check catches it at build time, at the ``.agg`` location
that showed it (``LoweringError``, an internal error, never a user's).

A node's output shape depends only on what it calls (its module's
constructor, or its function) and on the shapes and values of its
arguments, so each such *signature* runs once: the thousand identical layers
of a deep stage are checked by running the first, and the check costs a walk
over the graph plus one meta-tensor call per distinct signature (a 3 x
1,000-layer SparseNet has a few hundred). Modules are built from their
constructors on the meta device, one per constructor, so no second model is
made. A merge whose registry entry asks for it (``checked_on_empty_batch``:
the learned-weight merge) runs on an empty CPU batch instead, as meta tensors
are slow for its one op per input.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import torch
from torch import fx, nn

from aggspec.ir.lowering import TorchCall
from aggspec.ir.merges import MERGES
from aggspec.ir.shapes import format_shape
from aggspec.pytorch.lower import Lowered

__all__ = ["LoweringError", "verify_shapes"]


class LoweringError(RuntimeError):
    """The compiled program disagrees with the IR: a bug in a registry entry or a pass, not in the spec.

    The message still names the IR node and its ``.agg`` location, so the
    bug can be found from the spec that showed it; the CLI reports it as every
    internal error (a bug to report, exit 1; ``--debug`` shows the traceback).
    """


def verify_shapes(lowered: Lowered) -> None:
    """Run the program on meta tensors, once per signature, and compare each node's shape with the IR's."""
    _ShapeCheck(lowered).run()


class _ShapeCheck:
    def __init__(self, lowered: Lowered) -> None:
        self.lowered = lowered
        self.modules: dict[TorchCall, nn.Module] = {}  # one meta module per constructor
        self.results: dict[Hashable, torch.Tensor] = {}  # signature -> a meta result of that shape

    def run(self) -> None:
        values: dict[fx.Node, Any] = {}
        # Meta inputs make every result meta; the device context is entered only to
        # construct modules, since under it each tensor access pays a Python hook.
        with torch.no_grad():
            for node in self.lowered.graph.nodes:
                if node.op == "placeholder":
                    values[node] = torch.empty(2, *self.lowered.input_shape, device="meta")
                elif node.op == "get_attr":
                    values[node] = self._attribute(str(node.target))
                elif node.op != "output":
                    values[node] = self._call(node, values)

    def _module(self, path: str, on_cpu: bool = False) -> nn.Module:
        call = self.lowered.modules[path]
        if call not in self.modules:
            with torch.device("cpu" if on_cpu else "meta"):
                self.modules[call] = call.build().eval()
        return self.modules[call]

    def _attribute(self, target: str) -> Any:
        """A module of the table, or an attribute (a weight) of one."""
        parts = target.split(".")
        for end in range(len(parts), 0, -1):
            path = ".".join(parts[:end])
            if path in self.lowered.modules:
                value: Any = self._module(path)
                for part in parts[end:]:
                    value = getattr(value, part)
                return value
        raise LoweringError(f"get_attr {target!r} reads no constructed module")

    def _call(self, node: fx.Node, values: dict[fx.Node, Any]) -> Any:
        args = fx.map_arg(node.args, values.__getitem__)
        kwargs = fx.map_arg(node.kwargs, values.__getitem__)
        owner: Any = self.lowered.modules[str(node.target)] if node.op == "call_module" else node.target
        key = (node.op, owner, _signature(args), _signature(kwargs))
        if key in self.results:
            return self.results[key]
        info = node.meta.get("aggspec")
        try:
            if node.op == "call_module" and _on_empty_batch(info):
                module = self._module(str(node.target), on_cpu=True)
                result = _as_meta(module(*_empty_batch(args), **_empty_batch(kwargs)))
            elif node.op == "call_module":
                result = self._module(str(node.target))(*args, **kwargs)
            elif node.op == "call_method":
                self_, *rest = args
                result = getattr(self_, str(node.target))(*rest, **kwargs)
            else:
                result = node.target(*args, **kwargs)  # type: ignore[operator]
        except Exception as exc:  # the lowering built a call PyTorch rejects: say which node
            if info is None:
                raise
            reason = str(exc).splitlines()[0]
            raise LoweringError(f"{_where(info)}: PyTorch cannot run {info['node']}: {reason}") from exc
        if isinstance(result, torch.Tensor):
            shape = tuple(result.shape[1:])
            if info is not None and shape != info["shape"]:
                raise LoweringError(
                    f"{_where(info)}: {info['node']} produces {format_shape(shape)} in PyTorch, "
                    f"but its shape rule says {format_shape(info['shape'])}"
                )
            self.results[key] = result
        return result


def _on_empty_batch(info: dict[str, Any] | None) -> bool:
    """Whether the node's merge asks to be checked on an empty CPU batch (``Merge.checked_on_empty_batch``).

    Its module then runs on real CPU tensors of batch 0, whose kernels compute
    the same shapes as meta tensors in microseconds: ``take dense; merge
    weighted`` over 1,000 layers took two and a half minutes on meta tensors.
    """
    return info is not None and info["kind"] == "merge" and MERGES[info["op"]].checked_on_empty_batch


def _empty_batch(value: Any) -> Any:
    """Meta tensors as CPU tensors of the same shape with batch 0 (no data)."""
    if isinstance(value, torch.Tensor):
        return torch.empty((0, *value.shape[1:]), dtype=value.dtype)
    if isinstance(value, (list, tuple)):
        return type(value)(_empty_batch(v) for v in value)
    if isinstance(value, dict):
        return {k: _empty_batch(v) for k, v in value.items()}
    return value


def _as_meta(value: Any) -> Any:
    """A result back as a meta tensor of batch 2, as the rest of the check runs."""
    if isinstance(value, torch.Tensor):
        return torch.empty((2, *value.shape[1:]), dtype=value.dtype, device="meta")
    return value


def _signature(value: Any) -> Hashable:
    """What a call's result can depend on: tensors by shape and type, modules by identity."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, value.requires_grad)
    if isinstance(value, nn.Module):
        return ("module", id(value))  # one per constructor (``_ShapeCheck.modules``)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_signature(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _signature(v)) for k, v in value.items()))
    if isinstance(value, slice):
        return ("slice", value.start, value.stop, value.step)
    try:
        hash(value)
    except TypeError:
        return ("unhashable", id(value))  # never equal to another call's: the call runs
    return ("value", type(value).__name__, value)


def _where(info: dict[str, Any]) -> str:
    return f"{info['filename']}:{info['line']}:{info['col']}"
