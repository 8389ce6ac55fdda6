"""IR to PyTorch: a torch.fx graph, then a GraphModule.

``lower`` turns the IR into a ``Lowered`` program: an ``fx.Graph`` with one
node per op (a ``call_module``) or merge (``torch.cat``, a chain of adds or
maxima, or a learned-weight module), and the constructor of every module as
``TorchCall`` data. ``build`` makes a ``GraphModule`` of it; ``source.py``
prints the same program as a standalone file. Both therefore agree on every
parameter name, shape and registration order.

Modules get the IR's dotted node ids as names (``stage2.layer7.conv2``).
``ModuleNames`` makes each part safe (a Python keyword, an ``nn.Module``
attribute or a name Python would mangle gets a ``_``) and keeps the names of
one parent distinct, so no spec can break the module tree or the emitted
source, or make two values share one module. Each fx node's
``meta["aggspec"]`` holds its IR node id, shape and ``.agg`` source location.
"""

from __future__ import annotations

import keyword
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import torch
from torch import fx, nn

from aggspec.api import load
from aggspec.errors import AggSpecError, deep_recursion
from aggspec.ir import Limits, inputs_of
from aggspec.ir.merges import MERGES, Merge
from aggspec.ir.ops import OPS, TorchCall
from aggspec.ir.shapes import format_shape
from aggspec.pytorch.runtime import init_weights
from aggspec.span import Span
from aggspec.spec import Spec

__all__ = ["Lowered", "ModuleNames", "build", "lower", "module_paths"]

# Attribute names an nn.Module already uses: a submodule must not shadow them.
_MODULE_ATTRIBUTES = frozenset(dir(nn.Module())) | {"code", "graph", "meta"}

_FOLDS: dict[str, Callable[[Any, Any], Any]] = {"add": operator.add, "maximum": torch.maximum}


class ModuleNames:
    """Safe, unique module paths for IR node ids, assigned in the order asked.

    A part is renamed when it is a Python keyword or an ``nn.Module``
    attribute (``training`` -> ``training_``) or starts with ``__`` (which
    Python mangles inside a class body: ``__x`` -> ``m__x_``). Two different
    parts under one parent never get the same name: a later one adds ``_``
    until it is free (``training_`` after ``training`` -> ``training__``).
    """

    def __init__(self) -> None:
        self.assigned: dict[tuple[str, str], str] = {}  # (parent path, raw part) -> safe part
        self.taken: dict[str, set[str]] = {}  # parent path -> safe parts in use

    def __call__(self, node_id: str) -> str:
        path = ""
        for part in node_id.split("."):
            key = (path, part)
            if key not in self.assigned:
                candidate = _safe_part(part)
                used = self.taken.setdefault(path, set())
                while candidate in used:
                    candidate += "_"
                used.add(candidate)
                self.assigned[key] = candidate
            path = f"{path}.{self.assigned[key]}" if path else self.assigned[key]
        return path


def _safe_part(part: str) -> str:
    if part.startswith("__"):
        return f"m{part}_"
    if keyword.iskeyword(part) or part in _MODULE_ATTRIBUTES:
        return f"{part}_"
    return part


def module_paths(graph: nx.MultiDiGraph) -> dict[str, str]:
    """The module path of every IR node, as the compiler names them."""
    names = ModuleNames()
    return {node: names(node) for node in graph}


@dataclass
class Lowered:
    """A network as a torch.fx graph plus the constructor of each of its modules."""

    name: str
    graph: fx.Graph
    modules: dict[str, TorchCall]  # module path -> constructor, in registration order
    input_shape: tuple[int, ...]

    def root(self) -> nn.Module:
        """A module tree holding every module, registered in graph order."""
        root = nn.Module()
        for path, call in self.modules.items():
            *parents, leaf = path.split(".")
            owner = root
            for part in parents:
                if not hasattr(owner, part):
                    owner.add_module(part, nn.Module())
                owner = getattr(owner, part)
            owner.add_module(leaf, call.build())
        return root


def lower(graph: nx.MultiDiGraph) -> Lowered:
    """The fx program of an IR graph (see the module docstring)."""
    return _Lowering(graph).run()


class _Lowering:
    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.ir = graph
        self.fx = fx.Graph()
        self.modules: dict[str, TorchCall] = {}
        self.values: dict[str, fx.Node] = {}
        # Fold chains already built, keyed by (fold, accumulated node, next IR input):
        # a trie over input sequences, so a merge whose inputs extend an earlier
        # merge's inputs reuses it (the running sum of `take dense; merge sum`).
        self.folds: dict[tuple[str, fx.Node, str], fx.Node] = {}
        self.filename = str(graph.graph.get("filename", "<spec>"))
        self.paths = module_paths(graph)

    def run(self) -> Lowered:
        ir = self.ir
        input_id = ir.graph["input"]
        self.values[input_id] = self.fx.placeholder("x")
        for node_id, data in ir.nodes(data=True):
            if node_id == input_id:
                continue
            sources = inputs_of(ir, node_id)
            if data["kind"] == "op":
                value = self._op(node_id, data, sources[0])
            else:
                value = self._merge(node_id, MERGES[data["op"]], sources)
            self._annotate(value, node_id, data)
            self.values[node_id] = value
        self.fx.output(self.values[ir.graph["output"]])
        self.fx.lint()
        return Lowered(ir.graph["name"], self.fx, self.modules, tuple(ir.nodes[input_id]["shape"]))

    def _op(self, node_id: str, data: dict[str, Any], source: str) -> fx.Node:
        target = self.paths[node_id]
        in_shape = self.ir.nodes[source]["shape"]
        self.modules[target] = OPS[data["op"]].torch_module(in_shape, data["args"])
        return self.fx.create_node("call_module", target, (self.values[source],))

    def _merge(self, node_id: str, merge: Merge, sources: list[str]) -> fx.Node:
        inputs = [self.values[s] for s in sources]
        name = self.paths[node_id].replace(".", "_")
        if merge.lowering == "cat":
            return self.fx.create_node("call_function", torch.cat, (inputs,), {"dim": 1}, name=name)
        if merge.lowering == "module":
            target = self.paths[node_id]
            self.modules[target] = TorchCall(merge.module, (len(inputs),), runtime=True)
            # one list argument, not *args: TorchScript cannot script varargs
            return self.fx.create_node("call_module", target, (inputs,))
        result = self._fold(merge.fold, sources, inputs, name)
        if merge.average:
            result = self.fx.create_node(
                "call_function", operator.truediv, (result, len(inputs)), name=f"{name}_mean"
            )
        return result

    def _fold(self, fold: str, sources: list[str], inputs: list[fx.Node], name: str) -> fx.Node:
        accumulated = inputs[0]
        for i in range(1, len(inputs)):
            key = (fold, accumulated, sources[i])
            if key not in self.folds:
                last = i == len(inputs) - 1
                self.folds[key] = self.fx.create_node(
                    "call_function",
                    _FOLDS[fold],
                    (accumulated, inputs[i]),
                    name=name if last else f"{name}_partial",
                )
            accumulated = self.folds[key]
        return accumulated

    def _annotate(self, value: fx.Node, node_id: str, data: dict[str, Any]) -> None:
        if "aggspec" in value.meta:  # a merge that reuses an earlier one's fx node keeps its origin
            return
        span = data["span"]
        value.meta["aggspec"] = {
            "node": node_id,
            "shape": tuple(data["shape"]),
            "filename": self.filename,
            "line": span.line,
            "col": span.col,
        }
        # torch.fx shows this when a node fails, pointing the user at the .agg source.
        value.stack_trace = f'  File "{self.filename}", line {span.line}, in {node_id}\n'


def build(
    spec: Spec | str | os.PathLike[str],
    *,
    init_seed: int | None = 0,
    verify: bool = True,
    limits: Limits | None = None,
    **params: Any,
) -> fx.GraphModule:
    """Compile a spec (a ``Spec``, or the path of a .agg file) to a ``torch.fx.GraphModule``.

    ``params`` override the file's ``param`` values (paths only; so that a
    spec may have a ``param seed``, the initialisation seed is ``init_seed``,
    ``None`` for a random one). With
    ``verify``, the graph is run once on meta tensors and every node's shape
    is checked against the IR, so an op whose shape rule disagrees with
    PyTorch fails here, at its ``.agg`` location.

    >>> import aggspec
    >>> model = build(aggspec.loads("network T(input 3x8x8) { conv(4, 3) bn relu }"))
    >>> model(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
    """
    if not isinstance(spec, Spec):
        spec = load(spec, limits=limits, **params)
    elif params:
        raise TypeError("parameter overrides apply when building from a file; pass them to aggspec.load")
    try:
        with deep_recursion("the network"):  # module trees as deep as the spec's nesting
            lowered = lower(spec.graph)
            with torch.random.fork_rng(devices=[]):  # modules draw default weights from the global RNG
                root = lowered.root()
            model = fx.GraphModule(root, lowered.graph, class_name=lowered.name)
            init_weights(model, init_seed)
            if verify:
                verify_shapes(lowered)
    except AggSpecError as exc:
        raise exc.located(spec.filename, spec.module.source) from None
    return model


def verify_shapes(lowered: Lowered) -> None:
    """Run the program on meta tensors and compare each node's shape with the IR's."""
    with torch.device("meta"):
        model = fx.GraphModule(lowered.root(), lowered.graph, class_name=lowered.name)
        example = torch.empty(2, *lowered.input_shape)
    _ShapeCheck(model.eval()).run(example)


class _ShapeCheck(fx.Interpreter):
    def run_node(self, n: fx.Node) -> Any:
        info = n.meta.get("aggspec")
        try:
            result = super().run_node(n)
        except Exception as exc:  # PyTorch rejected the op: say where in the .agg file
            if info is None:
                raise
            reason = str(exc).splitlines()[0]
            raise _located(info, f"PyTorch cannot run {info['node']}: {reason}") from exc
        shape = tuple(result.shape[1:]) if isinstance(result, torch.Tensor) else None
        if info is not None and shape is not None and shape != info["shape"]:
            raise _located(
                info,
                f"{info['node']} produces {format_shape(shape)} in PyTorch, "
                f"but its shape rule says {format_shape(info['shape'])}",
            )
        return result


def _located(info: dict[str, Any], message: str) -> AggSpecError:
    span = Span(info["line"], info["col"], info["line"], info["col"] + 1)
    return AggSpecError(message, span, filename=info["filename"])
