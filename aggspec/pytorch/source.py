"""Standalone PyTorch source for a compiled network: a file that needs only torch.

The file holds one ``nn.Module`` subclass named after the network, with an
explicit ``__init__`` (every submodule, registered in the same order and under
the same names as ``aggspec.build``) and ``forward`` (one line per fx node of
the same lowered program), the runtime helpers it uses, copied from
``aggspec.torch_runtime``, and ``build(seed=0)``. Nothing from the spec reaches
the file except identifiers made safe by the compiler and literals printed with
``repr``, so no spec can inject code.
"""

from __future__ import annotations

import builtins
import inspect
import keyword
import operator
import textwrap
from typing import Any

import torch
from torch import fx

from aggspec import __version__
from aggspec.analysis.counts import parameter_count
from aggspec.ir.shapes import format_shape
from aggspec.pytorch import runtime as torch_runtime
from aggspec.pytorch.lower import Lowered, lower
from aggspec.spec import Spec

__all__ = ["emit_source"]

# Names the emitted file defines, imports or uses as locals next to the class name.
_FILE_NAMES = frozenset(
    {
        "torch",
        "nn",
        "math",
        "annotations",
        "SOURCE",
        "PARAMS",
        "build",
        "init_weights",
        "WeightedSum",
        "model",
        "seed",
    }
)


def class_name(network: str) -> str:
    """The network's name, unless Python or the file already means something by it."""
    taken = keyword.iskeyword(network) or network in _FILE_NAMES or hasattr(builtins, network)
    if taken or network.startswith("__") or not network.isidentifier():
        return network + "_"
    return network


def emit_source(spec: Spec) -> str:
    """The standalone ``model.py`` text for ``spec``."""
    lowered = lower(spec.graph)
    cls = class_name(lowered.name)
    header = _header(spec, cls)
    runtime = _runtime(lowered)
    init = _init(lowered)
    forward = _forward(lowered.graph)
    shape = tuple(lowered.input_shape)
    body = [
        f"class {cls}(nn.Module):",
        f"    input_shape = {shape!r}",
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *("        " + line for line in init),
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        *("        " + line for line in forward),
    ]
    footer = [
        f"def build(seed: int | None = 0) -> {cls}:",
        f'    """A new {cls}, initialised reproducibly from ``seed`` (None: at random)."""',
        "    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG as it was",
        f"        model = {cls}()",
        "    init_weights(model, seed)",
        "    return model",
    ]
    parts = [header, "\n\n\n".join(runtime), "\n".join(body), "\n".join(footer)]
    return "\n\n\n".join(p for p in parts if p) + "\n"


def _header(spec: Spec, cls: str) -> str:
    graph = spec.graph
    return "\n".join(
        [
            f'"""{cls}: compiled by aggspec {__version__}. It needs only PyTorch.',
            "",
            f"Input {format_shape(spec.input_shape)}, output {format_shape(spec.output_shape)}, "
            f"{parameter_count(graph):,} parameters.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "import math",
            "",
            "import torch",
            "from torch import nn",
            "",
            f"SOURCE = {spec.filename!r}",
            f"PARAMS = {spec.params!r}",
        ]
    )


def _runtime(lowered: Lowered) -> list[str]:
    used = {call.cls for call in lowered.modules.values() if call.runtime}
    definitions = []
    for obj in torch_runtime.RUNTIME_DEFINITIONS:
        if inspect.isclass(obj) and obj.__name__ not in used:
            continue
        definitions.append(textwrap.dedent(inspect.getsource(obj)).rstrip())
    return definitions


def _init(lowered: Lowered) -> list[str]:
    lines = []
    containers: set[str] = set()
    for path, call in lowered.modules.items():
        parts = path.split(".")
        for depth in range(1, len(parts)):
            container = ".".join(parts[:depth])
            if container not in containers:
                containers.add(container)
                lines.append(f"self.{container} = nn.Module()")
        lines.append(f"self.{path} = {call.source()}")
    return lines


_INFIX = {operator.add: "+", operator.truediv: "/"}


def _forward(graph: fx.Graph) -> list[str]:
    names: dict[fx.Node, str] = {}
    lines = []

    def name_of(value: Any) -> str:
        if isinstance(value, fx.Node):
            return names[value]
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(name_of(v) for v in value) + "]"
        return repr(value)

    for node in graph.nodes:
        if node.op == "placeholder":
            names[node] = "x"
            continue
        if node.op == "output":
            lines.append(f"return {name_of(node.args[0])}")
            continue
        names[node] = node.name
        args = ", ".join(name_of(a) for a in node.args)
        if node.op == "call_module":
            expression = f"self.{node.target}({args})"  # a list argument prints as [a, b]
        elif node.target in _INFIX:
            left, right = node.args
            expression = f"{name_of(left)} {_INFIX[node.target]} {name_of(right)}"
        elif node.target is torch.cat:
            expression = f"torch.cat({args}, dim={node.kwargs['dim']})"
        elif node.target is torch.maximum:
            expression = f"torch.maximum({args})"
        else:  # pragma: no cover - the compiler emits nothing else
            raise AssertionError(f"cannot print fx node {node.format_node()}")
        lines.append(f"{node.name} = {expression}")
    return lines
