"""The compiler: fx structure, names, determinism, initialisation, running sums, portability."""

from __future__ import annotations

import copy
import functools
import io
import operator

import pytest
import torch
from torch import fx, nn

import aggspec
from aggspec import AggSpecError
from aggspec.analysis.counts import parameter_count
from aggspec.ir import inputs_of
from aggspec.ir.ops import OPS
from aggspec.pytorch.build import build
from aggspec.pytorch.lower import ModuleNames, lower, module_paths

from ..conftest import EXAMPLES, example_paths

TINY = "network T(input 3x8x8) { conv(4, 3) bn relu stage 3 * conv(4, 3) { take dense; merge sum; emit all } gap flatten linear(2) }"


@pytest.mark.parametrize("path", example_paths())
def test_every_example_compiles_with_the_analysed_parameter_count(path) -> None:
    spec = aggspec.load(path)
    model = build(spec)
    assert sum(p.numel() for p in model.parameters()) == parameter_count(spec.graph)
    channels, height, width = spec.input_shape
    x = torch.randn(2, channels, min(height, 64), min(width, 64))  # ImageNet heads pool any size
    out = model(x)
    expected = spec.output_shape
    if len(expected) == 3:  # a fully convolutional network's output shrinks with its input (U-Net)
        expected = (expected[0], expected[1] * x.shape[2] // height, expected[2] * x.shape[3] // width)
    assert tuple(out.shape[1:]) == expected
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_one_fx_node_per_op_and_merge_with_provenance() -> None:
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=40, bottleneck=False)
    model = build(spec)
    model.graph.lint()
    by_ir = {n.meta["aggspec"]["node"]: n for n in model.graph.nodes if "aggspec" in n.meta}
    assert set(by_ir) == set(spec.graph) - {"input"}
    conv = by_ir["stage2.layer7.conv1"]
    assert conv.op == "call_module" and conv.target == "stage2.layer7.conv1"
    assert conv.meta["aggspec"]["line"] == spec.graph.nodes["stage2.layer7.conv1"]["span"].line
    assert conv.meta["aggspec"]["filename"].endswith("sparsenet_cifar.agg")
    concat = by_ir["stage1.layer8.concat1"]
    assert concat.target is torch.cat and concat.kwargs == {"dim": 1}
    # concat order is the rule's order: x7, x6, x4, x0
    names = [a.meta["aggspec"]["node"] for a in concat.args[0]]
    assert names == inputs_of(spec.graph, "stage1.layer8.concat1")
    assert isinstance(model.get_submodule("stage2.layer7.conv1"), nn.Conv2d)


def test_builds_are_deterministic() -> None:
    spec = aggspec.load(EXAMPLES / "randwire.agg", nodes=8)
    a, b = build(spec, init_seed=3), build(spec, init_seed=3)
    assert a.code == b.code
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    c = build(spec, init_seed=4)
    assert not torch.equal(a.get_parameter("conv1.weight"), c.get_parameter("conv1.weight"))


def test_initialisation_follows_the_references_and_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    model = build(aggspec.load(EXAMPLES / "resnet18.agg"))
    assert torch.equal(state, torch.random.get_rng_state())
    bn = model.get_submodule("bn1")
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert torch.all(model.get_submodule("linear1").bias == 0)
    conv = model.get_submodule("stage4.layer1.conv2").weight  # 512 x 512 x 3 x 3
    expected_std = (2 / (512 * 9)) ** 0.5  # He normal, fan_out
    assert abs(conv.std().item() / expected_std - 1) < 0.02


def test_dense_sum_compiles_to_a_running_sum() -> None:
    L = 20
    spec = aggspec.loads(
        f"network R(input 4x8x8) {{ stage {L} * {{ bn relu conv(4, 3) }} {{ take dense; merge sum; emit all }} }}"
    )
    adds = [n for n in lower(spec.graph).graph.nodes if n.target is operator.add]
    naive = sum(len(t) - 1 for t in spec.stages[0].takes) + L  # one add per extra input, emit included
    assert len(adds) == L and naive == L * (L + 1) // 2
    model = build(spec).eval()
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(model(x), interpret(spec.graph, model, x), rtol=0, atol=0)


def interpret(graph, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A naive evaluation of the IR with the compiled model's modules: every merge from scratch."""
    values = {graph.graph["input"]: x}
    paths = module_paths(graph)
    for node, data in graph.nodes(data=True):
        if data["kind"] == "input":
            continue
        inputs = [values[s] for s in inputs_of(graph, node)]
        if data["kind"] == "op":
            values[node] = model.get_submodule(paths[node])(inputs[0])
        elif data["op"] == "concat":
            values[node] = torch.cat(inputs, 1)
        elif data["op"] == "sum":
            values[node] = functools.reduce(operator.add, inputs)
        elif data["op"] == "mean":
            values[node] = functools.reduce(operator.add, inputs) / len(inputs)
        elif data["op"] == "max":
            values[node] = functools.reduce(torch.maximum, inputs)
        else:  # weighted
            gates = torch.sigmoid(model.get_submodule(paths[node]).weight)
            values[node] = functools.reduce(operator.add, [g * v for g, v in zip(gates, inputs, strict=True)])
    return values[graph.graph["output"]]


@pytest.mark.parametrize(
    "stage",
    [
        "take dense; merge mean; emit all",
        "take dense; merge max; emit all using sum",
        "take exponential; merge sum; emit exponential",
        "take offsets(1, 2); merge weighted; emit last",
        "take random er(0.5, seed=2); merge weighted; emit sinks using mean",
    ],
)
def test_every_merge_lowering_matches_a_naive_evaluation(stage: str) -> None:
    spec = aggspec.loads(f"network M(input 4x8x8) {{ stage 6 * {{ bn relu conv(4, 3) }} {{ {stage} }} }}")
    model = build(spec).eval()
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "reset_gates"):
                module.weight.normal_()  # non-trivial gates
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(model(x), interpret(spec.graph, model, x), rtol=1e-6, atol=1e-6)


def test_golden_code(golden) -> None:
    small_sparsenet = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=16, bottleneck=False)
    golden("compile/sparsenet_depth16.fx.py", build(small_sparsenet).code.lstrip("\n"))
    golden("compile/resnet18.fx.py", build(aggspec.load(EXAMPLES / "resnet18.agg")).code.lstrip("\n"))


def test_shape_rule_disagreeing_with_pytorch_is_an_internal_error_at_its_location(monkeypatch) -> None:
    # A wrong shape rule is aggspec's bug, not the user's: never an AggSpecError (exit 2,
    # no traceback), but it still names the node and the .agg place that showed it.
    from dataclasses import replace

    from aggspec.pytorch.build import LoweringError

    wrong = replace(OPS["relu"], infer_shape=lambda shape, args: (shape[0] * 2, *shape[1:]))
    monkeypatch.setitem(OPS, "relu", wrong)
    spec = aggspec.loads("network T(input 3x8x8) {\n  conv(4, 3)\n  relu\n}", filename="t.agg")
    with pytest.raises(LoweringError) as info:
        build(spec)
    assert not isinstance(info.value, AggSpecError)
    message = str(info.value).splitlines()[0]  # torch.fx adds the node it was running below
    assert message == "t.agg:3:3: relu1 produces 4x8x8 in PyTorch, but its shape rule says 8x8x8"


def test_a_lowering_pytorch_rejects_is_an_internal_error(monkeypatch) -> None:
    from dataclasses import replace

    from aggspec.ir.merges import MERGES
    from aggspec.pytorch.build import LoweringError

    def bad_cat(builder, inputs):
        return builder.call("torch.cat", (list(inputs),), {"dimm": 1})

    monkeypatch.setitem(MERGES, "concat", replace(MERGES["concat"], lower=bad_cat))
    spec = aggspec.loads("network T(input 3x8x8) { join concat { relu | relu } }", filename="t.agg")
    with pytest.raises(LoweringError, match=r"^t\.agg:1:26: PyTorch cannot run join1\.concat1: .*dimm"):
        build(spec)


def test_module_names_are_made_safe() -> None:
    names = ModuleNames()
    assert names("graph1.class.conv1") == "graph1.class_.conv1"
    assert names("graph1.training.relu1") == "graph1.training_.relu1"
    assert names("graph1.training_.relu1") == "graph1.training__.relu1"  # never the same module
    assert names("__blk1.conv1") == "m__blk1_.conv1"  # Python would mangle self.__blk1
    spec = aggspec.loads(
        "network T(input 3x8x8) { graph(x) { training = x -> relu\n forward = training -> bn } }"
    )
    model = build(spec)
    assert model.training is True and isinstance(model.get_submodule("graph1.forward_.bn1"), nn.BatchNorm2d)
    model(torch.randn(2, 3, 8, 8))


# ---------------------------------------------------------------- runs wherever PyTorch runs


@pytest.fixture
def tiny() -> tuple[fx.GraphModule, torch.Tensor, torch.Tensor]:
    model = build(aggspec.loads(TINY)).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = model(x)
    return model, x, expected


def test_channels_last(tiny) -> None:
    model, x, expected = tiny
    model = model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(model(x.to(memory_format=torch.channels_last)), expected, atol=1e-5, rtol=1e-5)


def test_autocast_bfloat16(tiny) -> None:
    model, x, expected = tiny
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=0.1, rtol=0.1)


@pytest.mark.slow
def test_torch_compile(tiny) -> None:
    model, x, expected = tiny
    torch.testing.assert_close(torch.compile(model)(x), expected, atol=1e-5, rtol=1e-5)


def test_torchscript_script_and_trace(tiny) -> None:
    model, x, expected = tiny
    torch.testing.assert_close(torch.jit.script(model)(x), expected)
    torch.testing.assert_close(torch.jit.trace(model, x)(x), expected)


def test_torch_export(tiny) -> None:
    model, x, expected = tiny
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), expected)


def test_deepcopy_and_state_dict_round_trip(tiny) -> None:
    model, x, expected = tiny
    torch.testing.assert_close(copy.deepcopy(model)(x), expected)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = build(aggspec.loads(TINY), init_seed=7).eval()
    fresh.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(fresh(x), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_forward_backward_and_amp() -> None:
    spec = aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=40)
    cpu_model = build(spec).eval()
    model = copy.deepcopy(cpu_model).to("cuda")
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(model(x.cuda()).cpu(), cpu_model(x), atol=1e-4, rtol=1e-4)
    model.train()
    with torch.autocast("cuda", dtype=torch.float16):
        out = model(x.cuda().to(memory_format=torch.channels_last))
    out.float().square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_a_value_merged_with_itself() -> None:
    model = build(aggspec.loads("network N(input 4x8x8) { residual { } }"))
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(model(x), 2 * x)


def test_bindings_whose_safe_names_collide_stay_distinct() -> None:
    spec = aggspec.loads(
        "network N(input 4x8x8) { graph(x) {\n training = x -> conv(8, 3)\n training_ = x -> conv(4, 3)\n"
        " c = concat(training, training_) } }"
    )
    model = build(spec)
    assert sum(p.numel() for p in model.parameters()) == parameter_count(spec.graph)
    assert model(torch.randn(2, 4, 8, 8)).shape == (2, 12, 8, 8)


@pytest.mark.slow
def test_weighted_merges_script() -> None:
    spec = aggspec.load(EXAMPLES / "randwire.agg", nodes=6, channels=8, classes=3)
    model = build(spec).eval()
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(torch.jit.script(model)(x), model(x))


@pytest.mark.slow
def test_very_deep_module_trees_build() -> None:
    text = "def tower(c, n) { if n > 0 { conv(c, 1) tower(c, n - 1) } }\nnetwork Deep(input 2x4x4) { tower(2, 1000) }"
    spec = aggspec.loads(text, limits=aggspec.Limits(max_recursion=5000))
    assert build(spec, verify=False)(torch.randn(1, 2, 4, 4)).shape == (1, 2, 4, 4)
