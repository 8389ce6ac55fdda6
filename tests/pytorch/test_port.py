"""port_state_dict: order-based weight transfer with shape checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aggspec
from aggspec.pytorch.port import PortError, port_state_dict

from ..conftest import EXAMPLES
from ..references import resnet

SPEC = "network T(input 3x8x8) { conv(4, 3) bn relu gap flatten linear(2) }"


def reference() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


def test_port_maps_by_order_and_loads_values() -> None:
    model = aggspec.build(aggspec.loads(SPEC))
    ref = reference()
    pairs = port_state_dict(model, ref.state_dict())
    assert pairs[0] == ("conv1.weight", "0.weight")
    assert pairs[-1] == ("linear1.bias", "5.bias")
    assert torch.equal(model.get_parameter("linear1.weight"), ref[5].weight)


def test_shape_mismatch_names_the_first_entry_and_changes_nothing() -> None:
    model = aggspec.build(aggspec.loads(SPEC.replace("conv(4, 3)", "conv(4, 5)")))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(
        PortError,
        match=r"entry 0 does not match: the model's conv1.weight has shape \(4, 3, 5, 5\), "
        r"the reference's 0.weight has shape \(4, 3, 3, 3\)",
    ):
        port_state_dict(model, reference().state_dict())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_count_mismatch() -> None:
    model = aggspec.build(aggspec.loads(SPEC.replace("linear(2)", "linear(2) linear(2)")))
    with pytest.raises(
        PortError,
        match=r"the model has 10 state_dict entries and the reference 8; "
        r"the reference has nothing for linear2\.weight",
    ):
        port_state_dict(model, reference().state_dict())


def test_resnet18_ports_from_the_torchvision_layout() -> None:
    model = aggspec.build(aggspec.load(EXAMPLES / "resnet18.agg"))
    pairs = dict(port_state_dict(model, resnet.resnet18().state_dict()))
    assert pairs["stage2.layer1.shortcut1.conv1.weight"] == "layer2.0.downsample.0.weight"
    assert pairs["linear1.weight"] == "fc.weight"
