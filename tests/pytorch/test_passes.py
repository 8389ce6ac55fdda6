"""Compiler passes: the pass manager, the in-place ReLU pass, and source that prints any pass's graph.

Every pass is checked the same two ways: the optimised model computes what the
unoptimised one does (outputs and every gradient, bit for bit), and the
standalone file compiled with the pass equals ``aggspec.build`` with the pass.
"""

from __future__ import annotations

import math
import operator

import pytest
import torch
from torch import fx, nn

import aggspec
from aggspec.ir.lowering import TorchCall
from aggspec.pytorch import runtime
from aggspec.pytorch.functions import resolve, spell
from aggspec.pytorch.lower import Lowered, lower
from aggspec.pytorch.passes import DEFAULT_PASSES, PASSES, PassError, inplace_relu, run_passes
from aggspec.pytorch.smoke import import_model_file
from aggspec.pytorch.source import emit_source

from ..conftest import EXAMPLES

# One stage per merge followed by `then relu`; dense sums share running sums,
# so most of their merge results have a second reader and must stay as they are.
THEN_RELU = """
network T(input 4x8x8) {
    conv(8, 3)
    stage 3 * {bn relu conv(8, 3)} { take offsets(1, 2); merge sum then relu; emit last }
    stage 3 * {bn relu conv(8, 3)} { take offsets(1, 2); merge max then relu; emit last }
    stage 3 * {bn relu conv(8, 3)} { take offsets(1, 2); merge mean then relu; emit last }
    stage 3 * {bn relu conv(4, 3)} { take offsets(1, 2); merge concat then relu; emit last } conv(8, 1)
    stage 4 * {bn relu conv(8, 3)} { take dense; merge sum then relu; emit last }
    join weighted { relu | conv(8, 1) } relu
    residual { bn relu conv(8, 3) } relu
    gap flatten linear(3)
}
"""


def cases() -> list[tuple[str, aggspec.Spec, tuple[int, ...]]]:
    """Specs whose merges meet ReLUs in every way: THEN_RELU and examples (small).

    The pass applies to resnet18's residual sums and to none of the others'
    merges, which must come out unchanged (RandWire's learned-weight merge
    before a ReLU is in THEN_RELU).
    """
    return [
        ("then_relu", aggspec.loads(THEN_RELU), (4, 8, 8)),
        ("resnet18", aggspec.load(EXAMPLES / "resnet18.agg"), (3, 32, 32)),
        ("preact_resnet", aggspec.load(EXAMPLES / "preact_resnet.agg", depth=20), (3, 32, 32)),
        ("sparsenet", aggspec.load(EXAMPLES / "sparsenet_cifar.agg", depth=16), (3, 32, 32)),
        ("fractalnet", aggspec.load(EXAMPLES / "fractalnet.agg", columns=2), (3, 32, 32)),
    ]


CASES = cases()


def run_and_differentiate(model: nn.Module, shape: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    """Output, input gradient and every parameter gradient of one training step."""
    model.train()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(5)).requires_grad_()
    out = model(x)
    out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(6)))
    assert x.grad is not None
    return (out.detach(), x.grad, *(p.grad for p in model.parameters() if p.grad is not None))


def assert_same_model(ours: nn.Module, theirs: nn.Module, *, tree: bool = True) -> None:
    """Same module tree (names, order, classes) and state_dict (keys, order, values)."""
    if tree:
        assert [(k, type(m).__name__) for k, m in ours.named_modules() if k] == [
            (k, type(m).__name__) for k, m in theirs.named_modules() if k
        ]
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def assert_bit_identical(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def emitted(tmp_path, spec: aggspec.Spec, passes) -> nn.Module:
    path = tmp_path / "model.py"
    path.write_text(emit_source(spec, passes=passes))
    return import_model_file(str(path)).build(seed=0)


# ---------------------------------------------------------------- the in-place ReLU pass


def test_inplace_relu_is_registered_and_not_a_default() -> None:
    assert PASSES["inplace_relu"] is inplace_relu
    assert inplace_relu not in DEFAULT_PASSES  # emitted files change only when asked


def inplace_paths(spec: aggspec.Spec) -> list[str]:
    program = run_passes(lower(spec.graph), [inplace_relu])
    return [path for path, call in program.modules.items() if dict(call.kwargs).get("inplace")]


def test_inplace_relu_rewrites_only_relus_that_alone_read_a_fresh_merge() -> None:
    paths = inplace_paths(aggspec.loads(THEN_RELU))
    # sum, max, mean and concat stages: each layer after the first aggregates two outputs
    for stage in ("stage1", "stage2", "stage3", "stage4"):
        assert f"{stage}.layer2.relu1" in paths and f"{stage}.layer3.relu1" in paths
    # dense sums: layer l's sum is also the start of layer l+1's, so only the last layer is free
    assert [p for p in paths if p.startswith("stage5.")] == ["stage5.layer4.relu1"]
    assert "relu1" not in paths  # after the learned-weight merge: a module, not a known function
    assert "relu2" not in paths  # inside the residual body, after a batch norm
    assert "relu3" in paths  # after the residual sum
    # the units' relus read batch norms, never merges
    assert not [p for p in paths if p.endswith("relu2")]
    assert len(paths) == 2 * 4 + 2


def test_inplace_relu_in_resnet18_is_torchvisions() -> None:
    paths = inplace_paths(aggspec.load(EXAMPLES / "resnet18.agg"))
    assert len(paths) == 8  # one per basic block, after the residual sum
    assert all(p.startswith("stage") and p.endswith(".relu2") for p in paths)


@pytest.mark.parametrize(("name", "spec", "shape"), CASES, ids=[c[0] for c in CASES])
def test_inplace_relu_computes_what_the_unoptimised_graph_does(name, spec, shape) -> None:
    plain = aggspec.build(spec, passes=[])
    optimised = aggspec.build(spec, passes=[inplace_relu])
    assert_same_model(optimised, plain)
    assert_bit_identical(run_and_differentiate(optimised, shape), run_and_differentiate(plain, shape))


@pytest.mark.parametrize("name", ["then_relu", "resnet18"])
def test_inplace_relu_source_equals_build(tmp_path, name: str) -> None:
    _, spec, shape = next(c for c in CASES if c[0] == name)
    ours = emitted(tmp_path, spec, [inplace_relu])
    assert "nn.ReLU(inplace=True)" in emit_source(spec, passes=[inplace_relu])
    theirs = aggspec.build(spec, passes=[inplace_relu])
    assert_same_model(ours, theirs)
    assert_bit_identical(run_and_differentiate(ours, shape), run_and_differentiate(theirs, shape))


def test_build_and_source_take_their_passes_by_keyword() -> None:
    spec = aggspec.load(EXAMPLES / "resnet18.agg")
    assert emit_source(spec) == emit_source(spec, passes=DEFAULT_PASSES)
    with pytest.raises(TypeError, match="passes must be a list of passes or pass names, got function"):
        aggspec.build(spec, passes=inplace_relu)


# ---------------------------------------------------------------- the pass manager


TINY = "network T(input 3x8x8) { conv(4, 3) bn relu stage 3 * conv(4, 3) { take dense; merge sum } gap flatten linear(2) }"


def test_the_manager_drops_unused_modules_and_orders_the_rest_by_first_use() -> None:
    def move_linear_first(program: Lowered) -> Lowered:
        program.modules = {"linear1": program.modules.pop("linear1"), **program.modules}
        program.modules["unused"] = TorchCall("Linear", (2, 2))
        return program

    def drop_relu(program: Lowered) -> Lowered:
        (relu,) = [n for n in program.graph.nodes if n.target == "relu1"]
        relu.replace_all_uses_with(relu.args[0])
        program.graph.erase_node(relu)
        return program

    program = run_passes(lower(aggspec.loads(TINY).graph), [move_linear_first, drop_relu])
    order = list(program.modules)
    assert order[0] == "conv1" and order[-1] == "linear1"
    assert "unused" not in program.modules and "relu1" not in program.modules


def add_input(program: Lowered) -> Lowered:
    with program.graph.inserting_before(next(iter(program.graph.nodes))):
        program.graph.placeholder("y")
    return program


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda p: p.modules.pop("conv1") and p, "calls a module it did not construct"),
        (lambda p: p.graph, "returned Graph, not a Lowered program"),
        (lambda p: add_input(p), "left 2 inputs"),
    ],
    ids=["missing module", "wrong type", "two inputs"],
)
def test_the_manager_names_a_pass_that_breaks_the_program(broken, message: str) -> None:
    with pytest.raises(PassError, match=message):
        run_passes(lower(aggspec.loads(TINY).graph), [broken])


# ---------------------------------------------------------------- printing any pass's graph


def halve(x: torch.Tensor) -> torch.Tensor:
    """A runtime helper for the test: the emitted file must copy it."""
    return x * 0.5


def rewrite_everything(program: Lowered) -> Lowered:
    """Use every kind of node a pass may produce, leaving the network's function alone.

    ReLU modules become ``torch.nn.functional.relu`` (and ``operator.abs``,
    which must be imported) and the first conv runs
    under activation checkpointing (``get_attr`` of the module); flatten is a
    method call; the linear layer is ``F.linear`` of its own parameters
    (``get_attr``); a no-op slice, clamp to +-inf, ``operator.neg`` twice, a
    dtype cast and the runtime's ``halve`` (times 2) are sprinkled in.
    """
    graph = program.graph
    for node in list(graph.nodes):
        call = program.modules.get(str(node.target)) if node.op == "call_module" else None
        if call is None:
            continue
        with graph.inserting_before(node):
            if call.cls == "ReLU":
                new = graph.call_function(torch.nn.functional.relu, node.args)
                new = graph.call_function(operator.abs, (new,))  # no-op after a ReLU
            elif call.cls == "Flatten":
                new = graph.call_method("flatten", (node.args[0], 1))
                new = graph.call_function(operator.getitem, (new, (slice(None), slice(0, None))))
                new = graph.call_method("to", (new, torch.float32))
            elif call.cls == "Linear":
                weight = graph.get_attr(f"{node.target}.weight")
                bias = graph.get_attr(f"{node.target}.bias")
                new = graph.call_function(torch.nn.functional.linear, (node.args[0], weight, bias))
                new = graph.call_function(torch.clamp, (new,), {"min": -math.inf, "max": math.inf})
                new = graph.call_function(operator.neg, (graph.call_function(operator.neg, (new,)),))
                new = graph.call_function(halve, (new,))
                new = graph.call_function(operator.mul, (2.0, new))
            elif node.target == "conv1":
                conv = graph.get_attr("conv1")
                new = graph.call_function(
                    torch.utils.checkpoint.checkpoint, (conv, node.args[0]), {"use_reentrant": False}
                )
            else:
                continue
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        graph.erase_node(node)
    return program


@pytest.fixture
def runtime_halve(monkeypatch):
    monkeypatch.setattr(runtime, "RUNTIME_DEFINITIONS", (*runtime.RUNTIME_DEFINITIONS, halve))


def test_source_prints_any_graph_a_pass_makes_and_equals_build(tmp_path, runtime_halve) -> None:
    spec = aggspec.loads(TINY)
    text = emit_source(spec, passes=[rewrite_everything])
    forward = text.split("def forward", 1)[1].split("\ndef build", 1)[0]
    for expected in (
        # a module read by get_attr is printed where it is used, with no local of its own
        "checkpoint = torch.utils.checkpoint.checkpoint(self.conv1, x, use_reentrant=False)",
        "relu = torch.nn.functional.relu(bn1)",
        "abs_1 = operator.abs(relu)",
        ".flatten(1)",
        "[:, 0:]",
        ".to(torch.float32)",
        "torch.nn.functional.linear(to, linear1_weight, linear1_bias)",
        "linear1_weight = self.linear1.weight",
        "torch.clamp(linear, min=-math.inf, max=math.inf)",
        "neg = -clamp",
        "halve(neg_1)",
        "2.0 * halve",
    ):
        assert expected in forward, expected
    assert (
        "\nimport math\nimport operator\n\nimport torch\nimport torch.utils.checkpoint\nfrom torch import nn\n"
        in text
    )
    assert "def halve(x" in text
    assert "relu1" not in text.split("def forward")[0]  # ReLU modules no longer exist
    ours = emitted(tmp_path, spec, [rewrite_everything])
    theirs = aggspec.build(spec, passes=[rewrite_everything])
    plain = aggspec.build(spec, passes=[])  # the network the rewrite leaves unchanged
    assert_same_model(ours, theirs)
    assert_same_model(theirs, plain, tree=False)  # the ReLU and Flatten modules are gone
    outputs = run_and_differentiate(theirs, (3, 8, 8))
    assert_bit_identical(run_and_differentiate(ours, (3, 8, 8)), outputs)
    for a, b in zip(outputs, run_and_differentiate(plain, (3, 8, 8)), strict=True):
        torch.testing.assert_close(a, b)


def test_locals_never_hide_the_names_the_file_uses(tmp_path) -> None:
    def shadow(program: Lowered) -> Lowered:
        graph = program.graph
        output = next(n for n in graph.nodes if n.op == "output")
        (value,) = output.args
        with graph.inserting_before(output):
            math_ = graph.create_node("call_function", torch.sigmoid, (value,), name="math")
            self_ = graph.create_node("call_function", operator.getitem, (math_, 0), name="self")
            stack = graph.create_node("call_function", torch.stack, ([self_, self_],), name="nn")
        output.args = (stack,)
        return program

    spec = aggspec.loads("network T(input 3x8x8) { conv(4, 3) }")
    text = emit_source(spec, passes=[shadow])
    assert "math_ = torch.sigmoid(conv1)" in text and "self_ = math_[0]" in text
    assert "nn_ = torch.stack([self_, self_])" in text and "return nn_" in text
    model = emitted(tmp_path, spec, [shadow])
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(x), aggspec.build(spec, passes=[shadow])(x), rtol=0, atol=0)


def test_functions_are_spelled_by_their_public_path() -> None:
    assert spell(torch.cat).text == "torch.cat"
    assert spell(torch.nn.functional.gelu).text == "torch.nn.functional.gelu"  # lives in torch._C._nn
    assert spell(torch.Tensor.add).text == "torch.Tensor.add"
    assert (spell(operator.add).text, spell(operator.add).module) == ("operator.add", "operator")
    assert (spell(getattr).text, spell(getattr).module) == ("getattr", None)
    assert spell(runtime.init_weights).runtime
    for function in (torch.cat, torch.nn.functional.gelu, operator.add, math.sqrt):
        assert resolve(spell(function).text) is function
    with pytest.raises(ValueError, match="may call only torch, math, operator"):
        spell(pytest.approx)
    with pytest.raises(ValueError, match="no name"):
        spell(fx.Graph())


def test_a_non_printable_graph_is_refused_with_the_reason() -> None:
    def import_numpy(program: Lowered) -> Lowered:
        import numpy

        graph = program.graph
        output = next(n for n in graph.nodes if n.op == "output")
        with graph.inserting_before(output):
            graph.call_function(numpy.asarray, (output.args[0],))
        return program

    spec = aggspec.loads("network T(input 3x8x8) { conv(4, 3) }")
    with pytest.raises(ValueError, match="an emitted file may call only torch"):
        emit_source(spec, passes=[import_numpy])


def test_constants_and_operators_print_as_python(tmp_path) -> None:
    def constants(program: Lowered) -> Lowered:
        graph = program.graph
        output = next(n for n in graph.nodes if n.op == "output")
        (value,) = output.args
        with graph.inserting_before(output):
            v = graph.call_method("to", (value,), {"dtype": torch.float32})
            v = graph.call_function(operator.getitem, (v, (Ellipsis, None, slice(None, None, 2))))
            v = graph.call_method("squeeze", (v, -2))
            v = graph.call_function(torch.clamp, (v,), {"min": -1.5, "max": math.inf})
            v = graph.call_function(operator.pow, (v, 2))
            v = graph.call_function(operator.sub, (-2, v))
            v = graph.call_function(torch.sum, (v, (1,)))
        output.args = (v,)
        return program

    spec = aggspec.loads("network T(input 3x8x8) { conv(4, 3) }")
    text = emit_source(spec, passes=[constants])
    for expected in (
        "to = conv1.to(dtype=torch.float32)",
        "getitem = to[..., None, ::2]",
        "squeeze = getitem.squeeze(-2)",
        "clamp = torch.clamp(squeeze, min=-1.5, max=math.inf)",
        "pow_1 = clamp ** 2",
        "sub = (-2) - pow_1",
        "sum_1 = torch.sum(sub, (1,))",
    ):
        assert expected in text, expected
    model = emitted(tmp_path, spec, [constants])
    x = torch.randn(2, 3, 8, 8)
    expected_out = aggspec.build(spec, passes=[constants])(x)
    assert expected_out.shape == (2, 8, 4)
    torch.testing.assert_close(model(x), expected_out, rtol=0, atol=0)


def test_passes_are_named_or_callable_and_checked_before_any_work() -> None:
    from aggspec.pytorch.passes import PASSES, resolve_passes

    spec = aggspec.loads(THEN_RELU)
    by_name = aggspec.build(spec, passes=["inplace_relu"])
    by_callable = aggspec.build(spec, passes=[PASSES["inplace_relu"]])
    assert by_name.code == by_callable.code
    assert resolve_passes(None) == () and resolve_passes(iter(["inplace_relu"])) == (PASSES["inplace_relu"],)
    with pytest.raises(ValueError, match=r"unknown compiler pass 'inplace_relus' \(passes: inplace_relu"):
        aggspec.build(spec, passes=["inplace_relus"])
    with pytest.raises(TypeError, match="a compiler pass is a callable or a name in PASSES, got 3"):
        aggspec.build(spec, passes=[3])
    with pytest.raises(TypeError, match="passes must be a list of passes or pass names, got int"):
        emit_source(spec, passes=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got str"):
        aggspec.build(spec, passes="inplace_relu")
