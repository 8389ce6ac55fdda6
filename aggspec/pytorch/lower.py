"""IR to PyTorch: the IR lowered to a torch.fx program.

``lower`` turns the IR into a ``Lowered`` program: an ``fx.Graph`` with a
``call_module`` node per op and, per merge, whatever the merge's registry entry
asks a ``GraphBuilder`` for (``torch.cat``, a chain of adds or maxima, a
learned-weight module, ...), and the constructor of every module as
``TorchCall`` data. Passes (``passes/``) may rewrite the program; then
``build.py`` makes a ``GraphModule`` of it and ``source.py`` prints it as a
standalone file. Both therefore agree on every parameter name, shape and
registration order.

Modules get the IR's dotted node ids as names (``stage2.layer7.conv2``).
``ModuleNames`` makes each part safe (a Python keyword, an ``nn.Module``
attribute or a name Python would mangle gets a ``_``) and keeps the names of
one parent distinct, so no spec can break the module tree or the emitted
source, or make two values share one module. Each fx node's
``meta["aggspec"]`` holds its IR node id, kind and registry name, shape and ``.agg``
source location.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
from torch import fx, nn

from aggspec.ir import inputs_of
from aggspec.ir.lowering import TorchCall
from aggspec.ir.merges import MERGES
from aggspec.ir.ops import OPS
from aggspec.pytorch.functions import resolve
from aggspec.pytorch.instantiate import ModuleFactory

__all__ = ["Lowered", "ModuleNames", "lower", "module_paths"]

# Attribute names an nn.Module already uses: a submodule must not shadow them.
_MODULE_ATTRIBUTES = frozenset(dir(nn.Module())) | {"code", "graph", "meta"}


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
        make = ModuleFactory()
        root = make.container()
        for path, call in self.modules.items():
            *parents, leaf = path.split(".")
            owner = root
            for part in parents:
                if part not in owner._modules:
                    owner.add_module(part, make.container())
                owner = owner._modules[part]  # type: ignore[assignment]  # added just above
            owner.add_module(leaf, make(call))
        return root

    def graph_module(self, root: nn.Module) -> fx.GraphModule:
        """The ``fx.GraphModule`` of the program, holding ``root``'s module tree as it is.

        ``fx.GraphModule(root, graph)`` would copy only what nodes name: after
        a pass that reads a module's weight (``get_attr linear1.weight``)
        without calling the module, it would hold a bare container with the
        weight where the emitted file has the ``nn.Linear``, a different module
        tree that ``init_weights`` initialises differently. So the GraphModule
        adopts ``root``'s children whole, in the table's order (the emitted
        file's), and only then gets the graph.
        """
        model = fx.GraphModule(nn.Module(), fx.Graph(), class_name=self.name)
        for name, child in root.named_children():
            model.add_module(name, child)
        model.graph = self.graph  # generates the forward code
        return model


def lower(graph: nx.MultiDiGraph) -> Lowered:
    """The fx program of an IR graph (see the module docstring)."""
    return _Lowering(graph).run()


class _Lowering:
    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.ir = graph
        self.fx = fx.Graph()
        self.modules: dict[str, TorchCall] = {}
        self.values: dict[str, fx.Node] = {}
        # Fold chains already built, keyed by (function, accumulated node, next input):
        # a trie over input sequences, so a merge whose inputs extend an earlier
        # merge's inputs reuses it (the running sum of `take dense; merge sum`).
        self.folds: dict[tuple[Any, fx.Node, fx.Node], fx.Node] = {}
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
            inputs = [self.values[source] for source in sources]
            builder = _NodeBuilder(self, node_id)
            if data["kind"] == "op":
                (source,) = sources
                op, in_shape = OPS[data["op"]], ir.nodes[source]["shape"]
                if op.lower is not None:
                    value = op.lower(builder, inputs[0], in_shape, data["args"])
                else:
                    assert op.torch_module is not None  # Op.__post_init__ guarantees one of the two
                    value = builder.module(op.torch_module(in_shape, data["args"]), (inputs[0],))
            else:
                value = MERGES[data["op"]].lower(builder, inputs)
            if not isinstance(value, fx.Node):
                raise TypeError(
                    f"{data['kind']} {data['op']!r} lowered {node_id} to {value!r}, not a graph node"
                )
            self._annotate(value, node_id, data)
            self.values[node_id] = value
        self.fx.output(self.values[ir.graph["output"]])
        self.fx.lint()
        return Lowered(ir.graph["name"], self.fx, self.modules, tuple(ir.nodes[input_id]["shape"]))

    def _annotate(self, value: fx.Node, node_id: str, data: dict[str, Any]) -> None:
        if "aggspec" in value.meta:  # a merge that reuses an earlier one's fx node keeps its origin
            return
        span = data["span"]
        value.meta["aggspec"] = {
            "node": node_id,
            "kind": data["kind"],  # op or merge
            "op": data["op"],  # its registry name, for passes that ask the registry about it
            "shape": tuple(data["shape"]),
            "filename": self.filename,
            "line": span.line,
            "col": span.col,
        }
        # torch.fx shows this when a node fails, pointing the user at the .agg source.
        value.stack_trace = f'  File "{self.filename}", line {span.line}, in {node_id}\n'


class _NodeBuilder:
    """The ``GraphBuilder`` (``aggspec.ir.lowering``) for one IR node's lowering.

    Nodes are named after the IR node's module path (``stage1.layer2.sum1`` ->
    ``stage1_layer2_sum1``), so generated code and error messages point back
    at the spec; a fold's intermediate sums are ``..._partial``.
    """

    def __init__(self, lowering: _Lowering, node_id: str) -> None:
        self.lowering = lowering
        self.node_id = node_id
        self.path = lowering.paths[node_id]
        self.name = self.path.replace(".", "_")

    def call(
        self,
        function: str,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        suffix: str = "",
    ) -> fx.Node:
        name = f"{self.name}_{suffix}" if suffix else self.name
        graph, target = self.lowering.fx, resolve(function)
        return graph.create_node("call_function", target, tuple(args), dict(kwargs or {}), name=name)

    def fold(self, function: str, inputs: Sequence[fx.Node]) -> fx.Node:
        target = resolve(function)
        folds = self.lowering.folds
        accumulated = inputs[0]
        for i in range(1, len(inputs)):
            key = (target, accumulated, inputs[i])
            if key not in folds:
                last = i == len(inputs) - 1
                folds[key] = self.lowering.fx.create_node(
                    "call_function",
                    target,
                    (accumulated, inputs[i]),
                    name=self.name if last else f"{self.name}_partial",
                )
            accumulated = folds[key]
        return accumulated

    def module(self, call: TorchCall, args: tuple[Any, ...] = ()) -> fx.Node:
        modules = self.lowering.modules
        if self.path in modules:
            raise ValueError(f"{self.node_id} asked for a second module; an IR node owns at most one")
        modules[self.path] = call
        # fx names the node after the module path, as it names any call_module node
        return self.lowering.fx.create_node("call_module", self.path, tuple(args))
