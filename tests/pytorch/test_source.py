"""Standalone source: imports only torch, equals aggspec.build, cannot be injected into."""

from __future__ import annotations

import ast

import pytest
import torch

import aggspec
from aggspec import cli
from aggspec.pytorch.smoke import import_model_file
from aggspec.pytorch.source import emit_source

from ..conftest import EXAMPLES


def write(tmp_path, spec) -> str:
    path = tmp_path / "model.py"
    path.write_text(emit_source(spec))
    return str(path)


def top_level_shape(source: str) -> list[str]:
    """The kinds of statement at module level, and every module imported."""
    tree = ast.parse(source)
    kinds = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            kinds += [f"import {a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            kinds.append(f"from {node.module}")
        else:
            kinds.append(type(node).__name__)
    return kinds


@pytest.mark.parametrize(
    "name",
    [
        "sparsenet_cifar.agg",
        "resnet18.agg",
        pytest.param("randwire.agg", marks=pytest.mark.slow),  # weighted merges: also in test_registry
        "preact_resnet.agg",
        "log_densenet.agg",  # the pooling an across clause adds
    ],
)
def test_standalone_file_equals_build(tmp_path, name: str) -> None:
    spec = aggspec.load(
        EXAMPLES / name, **({"depth": 20} if name in ("preact_resnet.agg", "log_densenet.agg") else {})
    )
    module = import_model_file(write(tmp_path, spec))
    ours, theirs = module.build(seed=1), aggspec.build(spec, init_seed=1)
    assert type(ours).__name__ == spec.name
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    assert all(
        torch.equal(a, b)
        for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True)
    )
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(ours.eval()(x), theirs.eval()(x), rtol=0, atol=0)


def test_file_imports_only_torch(tmp_path) -> None:
    source = emit_source(aggspec.load(EXAMPLES / "randwire.agg", nodes=6))
    imports = [k for k in top_level_shape(source) if k.startswith(("import", "from"))]
    assert imports == ["from __future__", "import math", "import torch", "from torch"]
    assert "aggspec" not in source.split('"""', 2)[2]  # only the docstring names the compiler


def test_golden_standalone_file(golden) -> None:
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=16, bottleneck=False)
    text = emit_source(spec).replace(repr(spec.filename), "'examples/sparsenet_cifar.agg'")
    golden("compile/sparsenet_depth16.model.py", text)


HOSTILE = r"""
param note = "\"\"\" + __import__('os').system('echo pwned') + \"\"\" \n import os"
network import(input 3x8x8) {
    graph(x) {
        training = x -> conv(4, 3)
        class = training -> relu
        forward = sum(class, training) -> bn
    }
}
"""


def test_hostile_names_cannot_inject_code(tmp_path) -> None:
    spec = aggspec.loads(HOSTILE, filename='evil"""\nimport os\n.agg')
    source = emit_source(spec)
    assert top_level_shape(source) == [
        "Expr",  # the docstring
        "from __future__",
        "import math",
        "import torch",
        "from torch",
        "Assign",  # SOURCE
        "Assign",  # PARAMS
        "FunctionDef",  # init_weights
        "ClassDef",
        "FunctionDef",  # build
    ]
    module = import_model_file(write(tmp_path, spec))
    assert module.SOURCE == 'evil"""\nimport os\n.agg'
    model = module.build()
    assert type(model).__name__ == "import_"
    assert model.training is True
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 4, 8, 8)
    assert [k for k in model.state_dict()] == [k for k in aggspec.build(spec).state_dict()]


def test_cli_compile_writes_and_checks(tmp_path, capsys) -> None:
    out = tmp_path / "net.py"
    code = cli.main(["compile", str(EXAMPLES / "densenet_cifar.agg"), "-o", str(out), "--check"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"wrote {out}: class DenseNet" in captured.out
    assert "checked DenseNet: input (2, 3, 32, 32) -> output (2, 10), 1,059,298 parameters" in captured.out
    assert "every parameter got a gradient" in captured.out
    assert "class DenseNet(nn.Module):" in out.read_text()


def test_cli_compile_memory_efficient_writes_recompute_and_checks(tmp_path, capsys) -> None:
    out = tmp_path / "net.py"
    args = ["compile", str(EXAMPLES / "densenet_cifar.agg"), "-D", "depth=16", "-o", str(out)]
    code = cli.main([*args, "--memory-efficient", "--check"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "every parameter got a gradient" in captured.out
    text = out.read_text()
    assert "def recompute(" in text and "= recompute((self.stage1.layer2.bn1, " in text


def test_cli_compile_to_stdout_and_errors(tmp_path, capsys) -> None:
    assert cli.main(["compile", str(EXAMPLES / "plain.agg")]) == 0
    assert "def build(seed: int | None = 0) -> Plain:" in capsys.readouterr().out
    assert cli.main(["compile", str(EXAMPLES / "plain.agg"), "--check"]) == 2
    assert "--check needs -o FILE" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["model", "seed", "super", "range", "isinstance", "nn", "WeightedSum"])
def test_network_names_that_python_or_the_file_already_use(tmp_path, capsys, name: str) -> None:
    spec = tmp_path / "n.agg"
    spec.write_text(
        f"network {name}(input 3x8x8) {{ stage 3 * conv(3, 3) {{ take dense; merge weighted }} }}\n"
    )
    out = tmp_path / "model.py"
    assert cli.main(["compile", str(spec), "-o", str(out), "--check"]) == 0
    assert f"class {name}_" in capsys.readouterr().out


def test_mangled_names_keep_the_state_dict_keys(tmp_path) -> None:
    spec = aggspec.loads(
        "def __blk(c) { conv(c, 3) relu }\nnetwork Net(input 4x8x8) { __blk(4) graph(x) { __a = x -> bn } }"
    )
    module = import_model_file(write(tmp_path, spec))
    assert list(module.build().state_dict()) == list(aggspec.build(spec).state_dict())


def test_check_of_a_network_without_parameters_and_odd_paths(tmp_path, capsys) -> None:
    spec = tmp_path / "free.agg"
    spec.write_text("network Free(input 3x8x8) { relu maxpool(2) }\n")
    out = tmp_path / "model"  # no .py
    assert cli.main(["compile", str(spec), "-o", str(out), "--check"]) == 0
    assert "no parameters, forward ran (nothing to train)" in capsys.readouterr().out
    assert cli.main(["compile", str(EXAMPLES / "plain.agg"), "-o", str(out), "--check", "--batch", "1"]) == 0
    assert "input (1, 3, 32, 32)" in capsys.readouterr().out
    assert cli.main(["compile", str(EXAMPLES / "plain.agg"), "-o", str(out), "--check", "--batch", "0"]) == 2
    assert "--batch must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "filename",
    [
        "a\u2028import os\u2029b.agg",
        "x\rimport os\r.agg",
        'it\'s "quoted" \\ and\ttabbed.agg',
        "ünïcødé/пример.agg",
    ],
)
def test_filenames_reach_the_file_only_through_repr(tmp_path, filename: str) -> None:
    spec = aggspec.loads("network N(input 3x8x8) { conv(4, 3) relu }", filename=filename)
    source = emit_source(spec)
    assert top_level_shape(source).count("Assign") == 2  # SOURCE and PARAMS, nothing injected
    recorded = import_model_file(write(tmp_path, spec)).SOURCE
    assert recorded == filename
