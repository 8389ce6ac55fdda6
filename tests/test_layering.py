"""The layering of the package: no import cycles, each layer imports only those below it,
and checking a spec stays free of the heavy back-end libraries.

Only module-level imports count as edges (``if TYPE_CHECKING:`` blocks and
imports inside functions are deliberately lazy: they are how ``aggspec.build``
loads a path without every back end importing the parser).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from .conftest import EXAMPLES, ROOT

PACKAGE = ROOT / "aggspec"

# Each layer and the layers it may import at module level. A module's layer is
# its first component below ``aggspec`` (``aggspec.ir.ops`` -> ``ir``); the
# top-level helper modules form the base everyone may use.
BASE = {"span", "errors", "values", "options"}
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "lang": {"base"},
    "ir": {"base"},
    "elaborate": {"base", "lang", "ir"},
    "spec": {"base", "lang", "ir"},
    "api": {"base", "lang", "ir", "elaborate", "spec"},
    "analysis": {"base", "ir", "spec"},
    "viz": {"base", "ir", "spec", "analysis"},
    "pytorch": {"base", "ir", "spec", "analysis", "root"},
    "train": {"base", "lang", "ir", "spec", "api", "analysis", "pytorch"},
    "cli": {"base", "lang", "ir", "elaborate", "spec", "api", "analysis", "viz", "pytorch", "train"},
    "root": {"base", "api", "spec", "ir"},  # aggspec/__init__.py
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _top_level_imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The aggspec modules ``path`` imports when it is imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
                continue
            if isinstance(statement, (ast.If, ast.Try)):
                visit(statement.body)
                visit(statement.orelse)
                for handler in getattr(statement, "handlers", []):
                    visit(handler.body)
            elif isinstance(statement, ast.Import):
                found.update(a.name for a in statement.names if a.name.startswith("aggspec"))
            elif isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - statement.level + 1])
                    base = f"{base}.{statement.module}" if statement.module else base
                if not base.startswith("aggspec"):
                    continue
                for alias in statement.names:
                    submodule = f"{base}.{alias.name}"
                    found.add(submodule if submodule in modules else base)

    visit(tree.body)
    return found - {name}


def _import_graph(modules: dict[str, Path] | None = None) -> nx.DiGraph:
    modules = _modules() if modules is None else modules
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _top_level_imports(path, name, modules):
            assert target in modules, f"{name} imports {target}, which does not exist"
            graph.add_edge(name, target)
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] == "__main__":
        return "cli"  # `python -m aggspec` is the command line
    if len(parts) == 1:
        return "root"
    return "base" if parts[1] in BASE else parts[1]


def test_the_import_graph_has_no_cycles() -> None:
    graph = _import_graph()
    assert graph.number_of_edges() > 30  # the walk found the imports
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_each_layer_imports_only_the_layers_below_it() -> None:
    graph = _import_graph()
    assert set(map(_layer, graph)) <= set(ALLOWED), set(map(_layer, graph)) - set(ALLOWED)
    wrong = [
        f"{source} ({_layer(source)}) imports {target} ({_layer(target)})"
        for source, target in graph.edges()
        if _layer(source) != _layer(target) and _layer(target) not in ALLOWED[_layer(source)]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_walk_sees_a_cycle_when_there_is_one(tmp_path: Path) -> None:
    # The checker itself: two modules importing each other form a cycle it reports,
    # while an import under TYPE_CHECKING or inside a function is no edge.
    sources = {
        "aggspec.a": "from aggspec.b import x\n",
        "aggspec.b": "from aggspec import a\nif TYPE_CHECKING:\n    from aggspec.c import y\n",
        "aggspec.c": "def f():\n    from aggspec.a import x\n",
    }
    modules = {}
    for name, text in sources.items():
        modules[name] = tmp_path / f"{name.split('.')[-1]}.py"
        modules[name].write_text(text)
    modules["aggspec"] = tmp_path / "__init__.py"
    modules["aggspec"].write_text("")
    graph = _import_graph(modules)
    assert sorted(graph.edges()) == [("aggspec.a", "aggspec.b"), ("aggspec.b", "aggspec.a")]
    assert sorted(map(sorted, nx.simple_cycles(graph))) == [["aggspec.a", "aggspec.b"]]


HEAVY = ("torch", "scipy", "matplotlib")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(result.stdout.strip().split("\n")[-1].split())


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            "import aggspec; aggspec.loads('network T(input 3x8x8) { conv(4, 3) relu }')",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "import aggspec; aggspec.load('examples/sparsenet_cifar.agg', depth=40)", marks=pytest.mark.slow
        ),
        "from aggspec.cli import main; main(['check', 'examples/sparsenet_cifar.agg'])",
        pytest.param(
            "from aggspec.cli import main; main(['check', 'examples/densenet121.agg'])",
            marks=pytest.mark.slow,
        ),
    ],
    ids=["loads", "load", "check-sparsenet", "check-densenet121"],
)
def test_checking_a_spec_imports_no_torch_scipy_or_matplotlib(code: str) -> None:
    imported = _imported_after(code)
    assert "aggspec" in imported and "lark" in imported  # the probe ran
    assert not imported & set(HEAVY), imported & set(HEAVY)


@pytest.mark.slow
def test_the_budget_probe_sees_heavy_imports() -> None:
    # The probe can fail: building a model does import torch.
    built = _imported_after("import aggspec; aggspec.build(aggspec.loads('network T(input 3x8x8) { relu }'))")
    assert "torch" in built
    analysed = _imported_after(f"import aggspec; aggspec.analyze({str(EXAMPLES / 'randwire.agg')!r})")
    assert "scipy" in analysed


@pytest.mark.parametrize(
    "module", ["aggspec.pytorch.build", "aggspec.analysis.report", "aggspec.viz.graphviz"]
)
def test_the_back_ends_import_no_parser(module: str) -> None:
    # They take a Spec; only a path given to build/analyze loads the parser, lazily.
    imported = _imported_after(f"import {module}")
    assert "aggspec" in imported and "lark" not in imported
