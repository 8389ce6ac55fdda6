"""Standalone PyTorch source for a compiled network: a file that needs only torch.

The file holds one ``nn.Module`` subclass named after the network, with an
explicit ``__init__`` (every submodule, registered in the same order and under
the same names as ``aggspec.build``) and ``forward`` (one line per fx node of
the same program, after the same passes), the runtime helpers it uses, copied
from ``aggspec.pytorch.runtime``, and ``build(seed=0)``.

``forward`` is printed from the fx graph generically, so it prints whatever
passes produce: module calls, attribute reads, method calls and calls of
functions of torch (``torch.cat(...)``, ``torch.nn.functional.relu(...)``),
of ``math`` and ``operator`` (``a + b``, ``x[0]``) and of the runtime (whose
source the file then includes). Nothing from the spec reaches the file except
identifiers made safe by the compiler and literals printed with ``repr``, so no
spec can inject code.
"""

from __future__ import annotations

import builtins
import inspect
import keyword
import math
import operator
import re
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import fx

from aggspec import __version__
from aggspec.analysis.counts import parameter_count
from aggspec.ir.shapes import format_shape
from aggspec.pytorch import runtime
from aggspec.pytorch.functions import spell
from aggspec.pytorch.lower import Lowered, lower
from aggspec.pytorch.passes import Pass, run_passes
from aggspec.spec import Spec

__all__ = ["class_name", "emit_source"]

# Modules every emitted file imports (torch.nn.functional comes with torch.nn).
_IMPORTED = frozenset({"math", "torch", "torch.nn", "torch.nn.functional"})
# Names the emitted file defines, imports or uses as locals next to the class name
# (and the runtime definitions it may copy: ``_file_names``).
_FILE_NAMES = frozenset({"torch", "nn", "math", "annotations", "SOURCE", "PARAMS", "build", "model", "seed"})

_BINARY = {
    operator.add: "+",
    operator.sub: "-",
    operator.mul: "*",
    operator.truediv: "/",
    operator.floordiv: "//",
    operator.mod: "%",
    operator.pow: "**",
    operator.matmul: "@",
    operator.lshift: "<<",
    operator.rshift: ">>",
    operator.and_: "&",
    operator.or_: "|",
    operator.xor: "^",
    operator.eq: "==",
    operator.ne: "!=",
    operator.lt: "<",
    operator.le: "<=",
    operator.gt: ">",
    operator.ge: ">=",
}
_UNARY = {operator.neg: "-", operator.pos: "+", operator.invert: "~"}
_ATOM = re.compile(r"[A-Za-z_][\w.]*|\d[\w.]*|'[^'\\]*'|\"[^\"\\]*\"")  # needs no parentheses


def class_name(network: str) -> str:
    """The network's name, unless Python or the file already means something by it."""
    taken = keyword.iskeyword(network) or network in _file_names() or hasattr(builtins, network)
    if taken or network.startswith("__") or not network.isidentifier():
        return network + "_"
    return network


def _file_names() -> frozenset[str]:
    return _FILE_NAMES | {definition.__name__ for definition in runtime.RUNTIME_DEFINITIONS}


def emit_source(
    spec: Spec, *, passes: Iterable[Pass | str] | None = None, memory_efficient: bool = False
) -> str:
    """The standalone ``model.py`` text for ``spec``, compiled with ``passes`` as ``aggspec.build`` does."""
    lowered = run_passes(lower(spec.graph), passes, memory_efficient)
    cls = class_name(lowered.name)
    forward = _Forward(lowered.graph, set(lowered.modules))
    shape = tuple(lowered.input_shape)
    body = [
        f"class {cls}(nn.Module):",
        f"    input_shape = {shape!r}",
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *("        " + line for line in _init(lowered)),
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        *("        " + line for line in forward.lines),
    ]
    footer = [
        f"def build(seed: int | None = 0) -> {cls}:",
        f'    """A new {cls}, initialised reproducibly from ``seed`` (None: at random)."""',
        "    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG as it was",
        f"        model = {cls}()",
        "    init_weights(model, seed)",
        "    return model",
    ]
    header = _header(spec, cls, forward.modules)
    definitions = _runtime(lowered, forward.runtime)
    parts = [header, "\n\n\n".join(definitions), "\n".join(body), "\n".join(footer)]
    return "\n\n\n".join(p for p in parts if p) + "\n"


def _header(spec: Spec, cls: str, modules: set[str]) -> str:
    graph = spec.graph
    extra = modules - _IMPORTED
    standard = sorted({"math"} | {m for m in extra if m.split(".")[0] != "torch"})
    torch_modules = sorted(m for m in extra if m.split(".")[0] == "torch")
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
            *(f"import {module}" for module in standard),
            "",
            "import torch",
            *(f"import {module}" for module in torch_modules),
            "from torch import nn",
            "",
            f"SOURCE = {spec.filename!r}",
            f"PARAMS = {spec.params!r}",
        ]
    )


def _runtime(lowered: Lowered, functions: set[str]) -> list[str]:
    """The source of the runtime definitions the file uses, in ``RUNTIME_DEFINITIONS`` order."""
    used = {call.cls for call in lowered.modules.values() if call.runtime} | functions
    used.add(runtime.init_weights.__name__)  # build() calls it
    for name in list(used):
        used.update(runtime.RUNTIME_DEPENDENCIES.get(name, ()))
    known = {definition.__name__ for definition in runtime.RUNTIME_DEFINITIONS}
    if used - known:
        raise ValueError(
            f"the runtime definitions {sorted(used - known)} are not in RUNTIME_DEFINITIONS, "
            "so an emitted file cannot include them"
        )
    return [
        textwrap.dedent(inspect.getsource(definition)).rstrip()
        for definition in runtime.RUNTIME_DEFINITIONS
        if definition.__name__ in used
    ]


def _init(lowered: Lowered) -> list[str]:
    lines = []
    containers: set[str] = set()
    for path, call in lowered.modules.items():
        parts = _attribute_path(path).split(".")
        for depth in range(1, len(parts)):
            container = ".".join(parts[:depth])
            if container not in containers:
                containers.add(container)
                lines.append(f"self.{container} = nn.Module()")
        lines.append(f"self.{path} = {call.source()}")
    return lines


def _attribute_path(path: str) -> str:
    """``path`` if ``self.<path>`` reads it; module names from the compiler always qualify."""
    if not all(part.isidentifier() and not keyword.iskeyword(part) for part in path.split(".")):
        raise ValueError(f"cannot print {path!r} as an attribute path")
    return path


class _Forward:
    """The body of ``forward``: one assignment per fx node, then ``return``.

    Records what the lines need: ``modules`` to import and ``runtime``
    definitions to copy into the file. Locals keep their fx names unless one
    would hide a name the file uses (``torch``, ``self``, a runtime helper).
    """

    def __init__(self, graph: fx.Graph, submodules: set[str]) -> None:
        self.submodules = submodules  # a get_attr of one of these is printed where it is used
        self.modules: set[str] = set()
        self.runtime: set[str] = set()
        self.names: dict[fx.Node, str] = {}
        self.lines: list[str] = []
        calls = [node for node in graph.nodes if node.op == "call_function"]
        spelled = {node: self._spell(node.target) for node in calls if not _infix(node)}
        roots = {text.split(".")[0] for text in spelled.values()}
        self.reserved = _file_names() | {"self", "operator"} | roots
        self.taken: set[str] = set()
        for node in graph.nodes:
            self._print(node, spelled.get(node))

    def _spell(self, function: Any) -> str:
        spelling = spell(function)
        if spelling.runtime:
            self.runtime.add(spelling.text)
        elif spelling.module is not None:
            self.modules.add(spelling.module)
        return spelling.text

    def _print(self, node: fx.Node, function: str | None) -> None:
        if node.op == "placeholder":
            if self.names:
                raise ValueError(f"cannot print a second input {node.format_node()}; forward takes one")
            self.names[node] = self._local("x")
            return
        if node.op == "output":
            self.lines.append(f"return {self._value(node.args[0])}")
            return
        if node.op == "call_module":
            arguments = self._arguments(node.args, node.kwargs)
            expression = f"self.{_attribute_path(str(node.target))}({arguments})"
        elif node.op == "get_attr" and str(node.target) in self.submodules:
            self.names[node] = f"self.{_attribute_path(str(node.target))}"  # no local for a module
            return
        elif node.op == "get_attr":
            expression = f"self.{_attribute_path(str(node.target))}"
        elif node.op == "call_method":
            method = str(node.target)
            if not method.isidentifier() or keyword.iskeyword(method):
                raise ValueError(f"cannot print a call of method {method!r}")
            owner, *rest = node.args
            # a literal owner needs parentheses even when atomic: (2).bit_length()
            target = self.names[owner] if isinstance(owner, fx.Node) else f"({self._value(owner)})"
            expression = f"{target}.{method}({self._arguments(tuple(rest), node.kwargs)})"
        elif node.op == "call_function" and function is None:
            expression = self._infix(node)
        elif node.op == "call_function":
            expression = f"{function}({self._arguments(node.args, node.kwargs)})"
        else:
            raise ValueError(f"cannot print fx node {node.format_node()}")
        self.names[node] = self._local(node.name)
        self.lines.append(f"{self.names[node]} = {expression}")

    def _local(self, name: str) -> str:
        while name in self.reserved or name in self.taken or keyword.iskeyword(name):
            name += "_"
        self.taken.add(name)
        return name

    def _infix(self, node: fx.Node) -> str:
        target: Any = node.target
        if target is operator.getitem:
            value, index = node.args
            return f"{self._operand(value)}[{_index(index, self._value)}]"
        if target in _UNARY:
            (value,) = node.args
            return f"{_UNARY[target]}{self._operand(value)}"
        left, right = node.args
        return f"{self._operand(left)} {_BINARY[target]} {self._operand(right)}"

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        parts = [self._value(a) for a in args] + [f"{k}={self._value(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    def _operand(self, value: Any) -> str:
        """``value`` where an operator binds to it: parenthesised unless it is atomic."""
        text = self._value(value)
        return text if _ATOM.fullmatch(text) else f"({text})"

    def _value(self, value: Any) -> str:
        if isinstance(value, fx.Node):
            return self.names[value]
        return _literal(value, self._value)


def _infix(node: fx.Node) -> bool:
    """Whether the node prints as an operator (``a + b``, ``-a``, ``a[i]``) rather than a call."""
    if node.kwargs:
        return False
    target, count = node.target, len(node.args)
    if target in _UNARY:
        return count == 1
    return (target in _BINARY or target is operator.getitem) and count == 2


def _literal(value: Any, show: Callable[[Any], str]) -> str:
    """Python source for a constant argument; ``show`` prints the values nested in containers."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "math.nan"
        if math.isinf(value):
            return "math.inf" if value > 0 else "-math.inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = [show(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, slice):
        return f"slice({show(value.start)}, {show(value.stop)}, {show(value.step)})"
    if value is Ellipsis:
        return "..."
    if isinstance(value, (torch.dtype, torch.memory_format, torch.layout)):
        return repr(value)  # torch.float32, torch.channels_last, torch.strided
    if isinstance(value, torch.device):
        return f"torch.device({str(value)!r})"
    raise ValueError(f"cannot print the constant {value!r} in emitted source")


def _index(index: Any, show: Callable[[Any], str]) -> str:
    """A subscript as Python writes it: ``x[:, 1:3]``, ``x[0]``, ``x[..., None]``."""
    if isinstance(index, tuple) and index:
        return ", ".join(_subscript(i, show) for i in index) + ("," if len(index) == 1 else "")
    return _subscript(index, show)


def _subscript(index: Any, show: Callable[[Any], str]) -> str:
    if isinstance(index, slice):
        parts = [show(p) if p is not None else "" for p in (index.start, index.stop)]
        return ":".join(parts) + (f":{show(index.step)}" if index.step is not None else "")
    return show(index)
