"""Every registered op and merge, checked against PyTorch and run through every back end.

Each entry's shape rule, parameter count and MACs must equal what PyTorch
computes (shapes by running the module, parameters by summing ``numel``, MACs
from ``FlopCounterMode``, which counts 2 FLOPs per MAC), and a spec using it
must build, print as standalone source equal to the build, and draw. A
throwaway op of a new family and a throwaway broadcasting merge, each one
``register`` call, then go through the whole public API: adding either
touches one file.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import fx
from torch.utils.flop_counter import FlopCounterMode

import aggspec
from aggspec.analysis.counts import mac_count, parameter_count
from aggspec.ir import inputs_of, merges, ops
from aggspec.ir.lowering import TorchCall
from aggspec.ir.merges import MERGES, Merge, broadcast, fold
from aggspec.ir.ops import OPS, Example, Op
from aggspec.ir.shapes import OpError, Shape, format_shape
from aggspec.ir.signature import Parameter, Signature
from aggspec.pytorch.lower import module_paths
from aggspec.pytorch.smoke import import_model_file
from aggspec.pytorch.source import emit_source
from aggspec.viz.graphviz import LEVELS

BATCH = 2

OP_CASES = [
    pytest.param(name, example, id=f"{name}:{example.call}:{format_shape(example.input)}")
    for name, op in OPS.items()
    for example in op.examples or (Example(name),)
]
MERGE_CASES = [
    pytest.param(name, shapes, id=f"{name}:{'+'.join(format_shape(s) for s in shapes)}")
    for name, merge in MERGES.items()
    for shapes in merge.examples
]


def input_text(shape: Shape) -> str:
    return format_shape(shape) if len(shape) == 3 else f"[{', '.join(map(str, shape))}]"


def branch_to(shape: Shape, source: Shape) -> str:
    """Ops taking a ``source``-shaped feature map to ``shape``."""
    if len(shape) == 1:
        return f"gap flatten linear({shape[0]})"
    factor = source[1] // shape[1]
    assert source[1] == factor * shape[1] and source[2] == factor * shape[2], (source, shape)
    return (f"avgpool({factor}) " if factor > 1 else "") + f"conv({shape[0]}, 1)"


def merge_spec(name: str, shapes: tuple[Shape, ...]) -> str:
    maps = [s for s in shapes if len(s) == 3] or [(3, 1, 1)]
    source = (3, max(s[1] for s in maps), max(s[2] for s in maps))
    branches = " | ".join(branch_to(shape, source) for shape in shapes)
    return f"network M(input {input_text(source)}) {{ join {name} {{ {branches} }} }}"


def total_macs(model: torch.nn.Module, shape: Shape) -> float:
    """Multiply-accumulates per sample, as FlopCounterMode counts them."""
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(BATCH, *shape))
    return counter.get_total_flops() / 2 / BATCH


def through_every_back_end(tmp_path, spec: aggspec.Spec) -> torch.nn.Module:
    """Build, emit, import and draw ``spec``; the emitted model must equal the built one."""
    model = aggspec.build(spec)
    assert sum(p.numel() for p in model.parameters()) == parameter_count(spec.graph)
    path = tmp_path / "model.py"
    path.write_text(emit_source(spec))
    ours = import_model_file(str(path)).build(seed=0)
    assert [(k, type(m).__name__) for k, m in ours.named_modules() if k] == [
        (k, type(m).__name__) for k, m in model.named_modules() if k
    ]
    assert list(ours.state_dict()) == list(model.state_dict())
    for a, b in zip(ours.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.randn(BATCH, *spec.input_shape)
    torch.testing.assert_close(ours.eval()(x), model.eval()(x), rtol=0, atol=0)
    for level in LEVELS:
        aggspec.draw(spec, level)
    return model


# ---------------------------------------------------------------- every registered entry


@pytest.mark.parametrize(("name", "example"), OP_CASES)
def test_every_op_agrees_with_pytorch_and_every_back_end(tmp_path, name: str, example: Example) -> None:
    op = OPS[name]
    spec = aggspec.loads(f"network T(input {input_text(example.input)}) {{ {example.call} }}")
    node, data = next((n, d) for n, d in spec.graph.nodes(data=True) if d["kind"] == "op")
    args = data["args"]
    model = through_every_back_end(tmp_path, spec)
    # an op lowered to a module is checked on that module; one lowered to functions on the model
    module = op.torch_module(example.input, args).build() if op.torch_module else model
    with FlopCounterMode(display=False) as counter:
        out = module(torch.randn(BATCH, *example.input))
    assert tuple(out.shape[1:]) == op.infer_shape(example.input, args) == data["shape"]
    assert sum(p.numel() for p in module.parameters()) == op.count_params(example.input, args)
    assert counter.get_total_flops() == 2 * BATCH * op.count_macs(example.input, data["shape"], args)
    if op.torch_module:
        assert type(model.get_submodule(module_paths(spec.graph)[node])) is type(module)
    assert total_macs(model, spec.input_shape) == mac_count(spec.graph)
    dot = aggspec.draw(spec, "op").source
    assert op.describe(args) in dot and f'fillcolor="{op.colour}"' in dot and f"legend_{op.family}" in dot


@pytest.mark.parametrize(("name", "shapes"), MERGE_CASES)
def test_every_merge_agrees_with_pytorch_and_every_back_end(tmp_path, name: str, shapes) -> None:
    merge = MERGES[name]
    spec = aggspec.loads(merge_spec(name, shapes))
    node, data = next((n, d) for n, d in spec.graph.nodes(data=True) if d["kind"] == "merge")
    input_shapes = [spec.graph.nodes[s]["shape"] for s in inputs_of(spec.graph, node)]
    assert input_shapes == list(shapes)
    assert data["shape"] == merge.output_shape(shapes)

    model = through_every_back_end(tmp_path, spec)
    # the merge's value in PyTorch: the fx node the lowering annotated with it
    values: dict[str, torch.Tensor] = {}

    class Record(fx.Interpreter):
        def run_node(self, n: fx.Node) -> object:
            result = super().run_node(n)
            if n.meta.get("aggspec", {}).get("node") == node:
                values[node] = result
            return result

    Record(model).run(torch.randn(BATCH, *spec.input_shape))
    assert tuple(values[node].shape[1:]) == data["shape"]
    path = module_paths(spec.graph)[node]
    owned = [p for key, p in model.named_parameters() if key.startswith(f"{path}.")]
    assert sum(p.numel() for p in owned) == merge.count_params(len(shapes))
    op_macs = mac_count(spec.graph)  # the branches' convolutions and linear layers
    assert total_macs(model, spec.input_shape) == op_macs + merge.count_macs(shapes, data["shape"])
    dot = aggspec.draw(spec, "op").source
    assert f'fillcolor="{merge.colour}"' in dot and f"legend_{name}" in dot


@pytest.mark.parametrize("name", list(MERGES))
def test_elementwise_says_whether_project_applies(name: str) -> None:
    """``elementwise`` merges take ``(project)`` to equalise their inputs; the others refuse it."""
    text = f"network M(input 4x8x8) {{ join {name}(project) {{ conv(4, 1) | conv(6, 1) }} }}"
    if MERGES[name].elementwise:
        assert aggspec.loads(text).output_shape == (4, 8, 8)
    else:
        with pytest.raises(aggspec.AggSpecError, match="'project' applies to elementwise merges"):
            aggspec.loads(text)


def test_the_registries_need_no_torch() -> None:
    code = "import sys, aggspec.ir.ops, aggspec.ir.merges; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"


def test_broadcast_shape_rule() -> None:
    assert broadcast("gate", [(8, 4, 4), (8, 1, 1)]) == (8, 4, 4)
    assert broadcast("gate", [(1, 4, 1), (8, 1, 4)]) == (8, 4, 4)
    with pytest.raises(
        OpError, match="'gate' cannot merge values of shapes 8x4x4, 4x1x1: each size must agree"
    ):
        broadcast("gate", [(8, 4, 4), (4, 1, 1)])
    with pytest.raises(OpError, match="differ in rank"):
        broadcast("gate", [(8, 4, 4), (8,)])


# ---------------------------------------------------------------- adding an op and a merge


def _enlarge_shape(shape: Shape, args: ops.Args) -> Shape:
    if len(shape) != 3:
        raise OpError("enlarge needs a feature map")
    return (shape[0], shape[1] * args["scale"], shape[2] * args["scale"])


@pytest.fixture
def throwaway():
    """An op of a new family and a broadcasting merge, each registered by one call, then removed."""
    op = ops.register(
        Op(
            "enlarge",
            Signature((Parameter("scale", "int", 2),)),
            _enlarge_shape,
            lambda shape, args: TorchCall("Upsample", (), (("scale_factor", args["scale"]),)),
            family="resample",
            summary="nearest-neighbour upsampling",
            detail=lambda args: f"x{args['scale']}",
        )
    )
    merge = merges.register(
        Merge(
            "gate",
            elementwise=False,
            lower=fold("operator.mul"),
            shape_rule=broadcast,
            summary="product, broadcasting: a Cx1x1 gate scales a CxHxW map",
            colour="#123456",
        )
    )
    try:
        yield op, merge
    finally:
        del OPS["enlarge"], MERGES["gate"]


GATED = """
network Gated(input 3x8x8) {
    conv(8, 3) bn relu
    join gate { identity | gap conv(8, 1) sigmoid }
    enlarge(2)
    stage 3 * {bn relu conv(8, 3)} { take dense; merge gate; emit last }
    join gate { identity | gap conv(8, 1) sigmoid }
    gap flatten linear(10)
}
"""


def test_a_new_op_family_and_a_broadcasting_merge_need_one_registration_each(tmp_path, throwaway) -> None:
    op, merge = throwaway
    spec = aggspec.loads(GATED)
    assert spec.graph.nodes["join1.gate1"]["shape"] == (8, 8, 8)
    assert spec.graph.nodes["enlarge1"]["shape"] == (8, 16, 16)

    model = through_every_back_end(tmp_path, spec)
    x = torch.randn(BATCH, 3, 8, 8)
    out = model.train()(x)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    # the gate really broadcasts: the join scales each channel of its input map
    gate = dict(model.named_modules())
    with torch.no_grad():
        features = gate["relu1"](gate["bn1"](gate["conv1"](x)))
        scale = torch.sigmoid(gate["join1.branch2.conv1"](gate["join1.branch2.gap1"](features)))
    interpreted = {}

    class Record(fx.Interpreter):
        def run_node(self, n: fx.Node) -> object:
            result = super().run_node(n)
            interpreted[n.name] = result
            return result

    with torch.no_grad():
        Record(model).run(x)
    torch.testing.assert_close(interpreted["join1_gate1"], features * scale)

    source = emit_source(spec)
    assert (
        "nn.Upsample(scale_factor=2)" in source
        and "join1_gate1 = join1_branch1_identity1 * join1_branch2_sigmoid1" in source
    )
    dots = {level: aggspec.draw(spec, level).source for level in LEVELS}
    assert "enlarge x2" in dots["op"] and "legend_resample" in dots["op"]
    assert f'fillcolor="{op.colour}"' in dots["op"] and f'fillcolor="{merge.colour}"' in dots["op"]
    report = aggspec.analyze(spec)
    assert report.params == parameter_count(spec.graph) == sum(p.numel() for p in model.parameters())


def test_an_entry_is_never_registered_twice() -> None:
    # Not an assert: under python -O a second "sum" would silently replace the first.
    from dataclasses import replace

    from aggspec.ir import merges, ops

    with pytest.raises(ValueError, match="merge 'sum' is already registered"):
        merges.register(replace(merges.MERGES["sum"]))
    with pytest.raises(ValueError, match="op 'relu' is already registered"):
        ops.register(replace(ops.OPS["relu"]))


def _interpolate(builder, value, shape, args):
    return builder.call("torch.nn.functional.interpolate", (value,), {"scale_factor": float(args["scale"])})


def test_an_op_lowered_to_functions_needs_one_registration(tmp_path) -> None:
    # No torch.nn module computes it: its entry builds fx nodes itself, as a merge's does,
    # and the emitted file calls the function, with nothing added to the runtime.
    ops.register(
        Op(
            "zoom",
            Signature((Parameter("scale", "int", 2),)),
            _enlarge_shape,
            lower=_interpolate,
            family="resample",
            summary="nearest-neighbour upsampling by torch.nn.functional.interpolate",
        )
    )
    try:
        spec = aggspec.loads("network Z(input 3x8x8) { conv(4, 3) zoom(2) relu }")
        assert spec.graph.nodes["zoom1"]["shape"] == (4, 16, 16)
        model = through_every_back_end(tmp_path, spec)
        x = torch.randn(BATCH, 3, 8, 8)
        expected = torch.relu(
            torch.nn.functional.interpolate(model.get_submodule("conv1")(x), scale_factor=2.0)
        )
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
        assert "torch.nn.functional.interpolate(conv1, scale_factor=2.0)" in emit_source(spec)
        assert aggspec.analyze(spec).params == 3 * 4 * 9
    finally:
        del OPS["zoom"]
    with pytest.raises(ValueError, match="give exactly one of torch_module and lower"):
        Op("neither", Signature(), _enlarge_shape)
