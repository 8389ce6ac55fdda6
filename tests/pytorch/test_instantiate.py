"""Modules made as copies of a prototype are the modules their constructors make."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import aggspec
from aggspec.ir.lowering import TorchCall
from aggspec.pytorch.instantiate import REDRAWN, ModuleFactory, _copyable
from aggspec.pytorch.lower import lower
from aggspec.pytorch.passes import resolve_passes, run_passes
from aggspec.pytorch.runtime import init_weights

from ..conftest import example_paths


def _constructed_root(modules: dict[str, TorchCall]) -> nn.Module:
    """The module tree with every module from its constructor: what ``Lowered.root`` must equal."""
    root = nn.Module()
    for path, call in modules.items():
        *parents, leaf = path.split(".")
        owner = root
        for part in parents:
            if not hasattr(owner, part):
                owner.add_module(part, nn.Module())
            owner = getattr(owner, part)
        owner.add_module(leaf, call.build())
    return root


@pytest.mark.parametrize("memory_efficient", [False, True], ids=["default", "memory-efficient"])
@pytest.mark.parametrize("path", example_paths())
def test_copied_modules_equal_constructed_ones(path, memory_efficient: bool) -> None:
    program = run_passes(lower(aggspec.load(path).graph), resolve_passes(None, memory_efficient))
    ours = init_weights(program.root(), seed=3)
    theirs = init_weights(_constructed_root(program.modules), seed=3)
    assert repr(ours) == repr(theirs)  # every module's class and constructor arguments
    assert [(n, type(m)) for n, m in ours.named_modules()] == [
        (n, type(m)) for n, m in theirs.named_modules()
    ]
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()]
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for name, value in ours_state.items():
        assert value.dtype == theirs_state[name].dtype, name
        assert torch.equal(value, theirs_state[name]), name
    for name, p in ours.named_parameters():
        assert p.requires_grad, name


def test_copies_share_no_parameter_buffer_or_hook() -> None:
    make = ModuleFactory()
    call = TorchCall("BatchNorm2d", (8,))
    first, second = make(call), make(call)
    assert first is not second
    for a, b in zip(
        [*first.parameters(), *first.buffers()], [*second.parameters(), *second.buffers()], strict=True
    ):
        assert a.data_ptr() != b.data_ptr()
    with torch.no_grad():
        first.weight.add_(1)
    assert torch.equal(second.weight, torch.ones(8))
    calls: list[str] = []
    first.register_forward_hook(lambda *_: calls.append("first"))
    second(torch.zeros(2, 8, 4, 4))
    assert calls == []
    first.running_mean = torch.full((8,), 5.0)
    assert torch.equal(second.running_mean, torch.zeros(8))
    second.eval()
    assert first.training and not second.training


def test_a_module_drawing_weights_init_weights_keeps_is_constructed_each_time() -> None:
    make = ModuleFactory()
    call = TorchCall("Embedding", (10, 4))  # random default weights, not in REDRAWN
    first, second = make(call), make(call)
    assert not torch.equal(first.weight, second.weight)


def test_a_module_with_children_is_constructed_each_time() -> None:
    make = ModuleFactory()
    call = TorchCall("TransformerEncoderLayer", (8, 2))
    first, second = make(call), make(call)
    assert first.linear1 is not second.linear1
    assert not torch.equal(first.linear1.weight, second.linear1.weight)


@pytest.mark.parametrize("cls", REDRAWN)
def test_init_weights_redraws_every_parameter_of_the_classes_copies_rely_on(cls: type[nn.Module]) -> None:
    """``REDRAWN`` says init_weights overwrites these: a copy's prototype weights must never survive."""
    module = cls(3, 4, 3) if cls is not nn.Linear else cls(3, 4)
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(float("nan"))
    init_weights(module, seed=0)
    assert all(not p.isnan().any() for p in module.parameters())


def test_what_is_copied_and_what_is_constructed_each_time() -> None:
    assert _copyable(nn.ReLU(), drew=False)
    assert _copyable(nn.Conv2d(3, 4, 3), drew=True)  # its weights are redrawn by init_weights
    assert not _copyable(nn.Embedding(3, 4), drew=True)
    assert not _copyable(nn.Sequential(nn.ReLU()), drew=False)
    hooked = nn.ReLU()
    hooked.register_forward_hook(lambda module, args, out: out)  # may be bound to this very instance
    assert not _copyable(hooked, drew=False)
    stateful = nn.ReLU()
    stateful.scale = torch.ones(1)  # a tensor outside the parameters and buffers would be shared
    assert not _copyable(stateful, drew=False)


def test_calls_equal_as_data_but_not_as_source_get_modules_of_their_own() -> None:
    """``0.0 == -0.0``: a LeakyReLU of slope -0.0 is not a copy of the one of slope 0.0."""
    model = aggspec.build(aggspec.loads("network T(input 2x2x2) { leaky_relu(0.0) leaky_relu(-0.0) }"))
    slopes = [m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert [math.copysign(1.0, s) for s in slopes] == [1.0, -1.0]
    made = ModuleFactory()
    assert made(TorchCall("Upsample", (), (("size", [4, 4]),))).size == [4, 4]  # a list: no hash needed


def test_global_registration_hooks_see_every_parameter_and_buffer() -> None:
    from torch.nn.modules.module import (
        register_module_buffer_registration_hook,
        register_module_parameter_registration_hook,
    )

    seen: list[str] = []
    handles = [
        register_module_parameter_registration_hook(lambda module, name, value: seen.append(name)),
        register_module_buffer_registration_hook(lambda module, name, value: seen.append(name)),
    ]
    try:
        # The three batch norms are one constructor call: two would be copies.
        repeated = "network T(input 3x8x8) { conv(4, 3) bn relu conv(4, 3) bn relu conv(4, 3) bn relu }"
        model = aggspec.build(aggspec.loads(repeated), verify=False)
    finally:
        for handle in handles:
            handle.remove()
    assert len(seen) == len(list(model.parameters())) + len(list(model.buffers()))
