"""Compiler passes over the lowered program: one pass per module, and the pass manager.

A pass is any callable that takes a ``Lowered`` program (the fx graph plus the
constructor of every module) and returns one; it may rewrite the program it is
given in place and return it, as torch.fx passes do. Passes work on
``Lowered`` rather than on a ``GraphModule`` because the source printer needs
every module's constructor, not just the built module.

``run_passes`` runs a pipeline. ``aggspec.build`` and ``emit_source`` both call
it with the same ``passes`` (``DEFAULT_PASSES`` when not given), so the two
back ends always compile the same program. After each pass the manager checks
the program (``fx.Graph.lint``, one input, every called module constructed) and
tidies the module table the way ``fx.GraphModule`` does: modules no node
refers to are dropped and the rest are ordered by first use. That is the
order both back ends register modules in, so their state_dicts agree whatever
a pass inserted or removed.

``PASSES`` names the passes a user can ask for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aggspec.pytorch.lower import Lowered
from aggspec.pytorch.passes.inplace_relu import inplace_relu
from aggspec.pytorch.passes.memory_efficient import memory_efficient

__all__ = [
    "DEFAULT_PASSES",
    "PASSES",
    "Pass",
    "PassError",
    "inplace_relu",
    "memory_efficient",
    "resolve_passes",
    "run_passes",
]

Pass = Callable[[Lowered], Lowered]

# None by default: a pass that changes the emitted file must be asked for, so
# that compiled files stay as they were unless the user opts in.
DEFAULT_PASSES: tuple[Pass, ...] = ()

PASSES: dict[str, Pass] = {"inplace_relu": inplace_relu, "memory_efficient": memory_efficient}
_MEMORY_EFFICIENT: Pass = memory_efficient  # the pass, where a parameter shadows its name


class PassError(Exception):
    """A pass left a program the back ends cannot compile: a bug in the pass, never in the spec."""


def resolve_passes(passes: Iterable[Pass | str] | None, memory_efficient: bool = False) -> tuple[Pass, ...]:
    """The pipeline ``passes`` names: callables as they are, strings looked up in ``PASSES``.

    ``memory_efficient`` appends the ``memory_efficient`` pass if the list
    does not hold it already (``build(memory_efficient=True)``).

    A wrong value is the caller's mistake, refused here with a ``TypeError`` or
    ``ValueError`` before anything is compiled.

    >>> resolve_passes(["inplace_relu"]) == (inplace_relu,)
    True
    """
    if passes is None:
        return (*DEFAULT_PASSES, _MEMORY_EFFICIENT) if memory_efficient else DEFAULT_PASSES
    if isinstance(passes, str) or not isinstance(passes, Iterable):
        raise TypeError(f"passes must be a list of passes or pass names, got {type(passes).__name__}")
    resolved = []
    for item in passes:
        if isinstance(item, str):
            if item not in PASSES:
                raise ValueError(f"unknown compiler pass {item!r} (passes: {', '.join(PASSES)})")
            resolved.append(PASSES[item])
        elif callable(item):
            resolved.append(item)
        else:
            raise TypeError(f"a compiler pass is a callable or a name in PASSES, got {item!r}")
    if memory_efficient and _MEMORY_EFFICIENT not in resolved:
        resolved.append(_MEMORY_EFFICIENT)
    return tuple(resolved)


def run_passes(
    program: Lowered, passes: Iterable[Pass | str] | None = None, memory_efficient: bool = False
) -> Lowered:
    """``program`` after each of ``passes`` in turn (``DEFAULT_PASSES`` when None)."""
    for compiler_pass in resolve_passes(passes, memory_efficient):
        name = getattr(compiler_pass, "__name__", type(compiler_pass).__name__)
        result = compiler_pass(program)
        if not isinstance(result, Lowered):
            raise PassError(f"pass {name} returned {type(result).__name__}, not a Lowered program")
        program = _checked(result, name)
    return program


def _checked(program: Lowered, name: str) -> Lowered:
    """Check what the back ends rely on; order the module table by first use, dropping the unused."""
    graph = program.graph
    try:
        graph.lint()
    except Exception as exc:
        raise PassError(f"pass {name} left an invalid graph: {exc}") from exc
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    if len(placeholders) != 1:
        raise PassError(f"pass {name} left {len(placeholders)} inputs; the network has one")
    used: dict[str, None] = {}  # module paths in order of first use
    for node in graph.nodes:
        if node.op == "call_module":
            if node.target not in program.modules:
                raise PassError(f"pass {name}: {node.format_node()} calls a module it did not construct")
            used.setdefault(str(node.target), None)
        elif node.op == "get_attr":
            owner = _owner(program, str(node.target))
            if owner is None:
                raise PassError(
                    f"pass {name}: {node.format_node()} reads an attribute of no constructed module"
                )
            used.setdefault(owner, None)
    program.modules = {path: program.modules[path] for path in used}
    return program


def _owner(program: Lowered, target: str) -> str | None:
    """The constructed module ``target`` is, or is an attribute of (``a.b.weight`` -> ``a.b``)."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        path = ".".join(parts[:end])
        if path in program.modules:
            return path
    return None
