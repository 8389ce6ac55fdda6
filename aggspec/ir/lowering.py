"""How a registry entry becomes PyTorch, said without importing torch.

The op and merge registries must stay importable without torch (``aggspec
check`` never loads it), yet each entry has to say exactly how a compiled model
computes it. They do so in two ways, both read only by ``aggspec.pytorch``:

* ``TorchCall``: a module constructor as data (``nn.Conv2d(3, 16, ...)``).
  The compiler instantiates it and the source printer prints it, so the two
  cannot disagree about a module's arguments.
* a lowering function of a ``GraphBuilder``: a merge's ``lower(builder,
  inputs)`` asks the builder for graph nodes, naming functions by their dotted
  path (``"torch.cat"``, ``"operator.add"``, or a function of
  ``aggspec.pytorch.runtime``). ``aggspec.pytorch.lower`` implements the
  builder on a ``torch.fx.Graph``; the values passed around are its nodes, which
  a lowering function only hands back to the builder.

>>> TorchCall("Conv2d", (3, 16), (("kernel_size", 3),)).source()
'nn.Conv2d(3, 16, kernel_size=3)'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["RUNTIME_MODULE", "GraphBuilder", "MergeLowering", "TorchCall", "Value"]

# Where runtime modules and functions live; emitted files get a copy of their source.
RUNTIME_MODULE = "aggspec.pytorch.runtime"

# A value of the program being built: an fx node to the compiler, opaque to registry entries.
Value = Any


@dataclass(frozen=True)
class TorchCall:
    """A module constructor call such as ``nn.Conv2d(3, 16, kernel_size=3)``, as data.

    ``runtime`` classes live in ``aggspec.pytorch.runtime`` (and are copied
    into emitted source) instead of ``torch.nn``.
    """

    cls: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    runtime: bool = False

    def source(self) -> str:
        """The constructor call as the emitted file writes it."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{'' if self.runtime else 'nn.'}{self.cls}({', '.join(parts)})"

    def build(self) -> Any:
        """The ``torch.nn.Module`` (imports torch on first use)."""
        namespace = importlib.import_module(RUNTIME_MODULE if self.runtime else "torch.nn")
        return getattr(namespace, self.cls)(*self.args, **dict(self.kwargs))


class GraphBuilder(Protocol):
    """What a lowering function may ask of the compiler while it lowers one IR node.

    Every node it adds belongs to that IR node: it is named after it (with
    ``suffix`` appended, as in ``stage1_layer2_mean1_mean``) and a module it
    adds is registered under the IR node's module path.
    """

    def call(
        self,
        function: str,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        suffix: str = "",
    ) -> Value:
        """A call of ``function``, a dotted path such as ``"torch.cat"`` or ``"operator.add"``."""
        ...

    def fold(self, function: str, inputs: Sequence[Value]) -> Value:
        """``function`` applied pairwise left to right: ``f(f(a, b), c)``.

        Folds are shared between IR nodes: one whose inputs extend another's
        reuses its partial results (``take dense; merge sum`` is a running sum).
        """
        ...

    def module(self, call: TorchCall, args: tuple[Any, ...] = ()) -> Value:
        """A call of a new module built by ``call``, owned by the IR node (at most one per node)."""
        ...


# A merge's lowering: the builder and the merge's input values, in merge order.
MergeLowering = Callable[[GraphBuilder, Sequence[Value]], Value]
