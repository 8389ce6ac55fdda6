"""Compiled models equal hand-written PyTorch references, weight for weight.

Each reference in tests/references/ is written the way a user would write the
network in plain PyTorch. Its weights are ported onto the compiled model with
``port_state_dict`` (which also proves the registration orders correspond),
and both must then produce the same outputs and gradients, in train and eval
mode.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import aggspec
from aggspec import port_state_dict

from ..conftest import EXAMPLES, slow_if_heavy
from ..references import (
    cspnet,
    densenet,
    dpn,
    gated,
    hardnet,
    log_densenet,
    mobilenet,
    others,
    resnet,
    unet,
    vovnet,
)

# The ImageNet models run on 64x64 images: their pooling head takes any size,
# and a quarter of the width keeps the suite fast on two cores.
CASES = [
    ("resnet18.agg", {}, resnet.resnet18, (3, 64, 64)),
    ("resnet50.agg", {}, resnet.resnet50, (3, 64, 64)),
    ("densenet121.agg", {}, densenet.densenet121, (3, 64, 64)),
    ("se_resnet50.agg", {}, gated.se_resnet50, (3, 64, 64)),
    ("mobilenet_v2.agg", {}, mobilenet.MobileNetV2, (3, 64, 64)),
    ("hardnet.agg", {}, hardnet.HarDNet68, (3, 64, 64)),
    ("vovnet.agg", {}, vovnet.VoVNet39, (3, 64, 64)),
    ("cspresnet50.agg", {}, cspnet.CSPResNet50, (3, 64, 64)),
    ("unet.agg", {}, unet.UNet, (3, 64, 64)),
    ("unet_bilinear.agg", {}, unet.UNetBilinear, (3, 64, 64)),
    ("dpn68.agg", {}, dpn.DPN68, (3, 64, 64)),
    ("densenet_cifar.agg", {"depth": 40}, lambda: densenet.CifarNet(40, 12, False, False), (3, 32, 32)),
    (
        "densenet_cifar.agg",
        {"depth": 52, "bottleneck": True},
        lambda: densenet.CifarNet(52, 12, True, False),
        (3, 32, 32),
    ),
    (
        "sparsenet_cifar.agg",
        {"depth": 40, "bottleneck": False},
        lambda: densenet.CifarNet(40, 24, False, True),
        (3, 32, 32),
    ),
    (
        "sparsenet_cifar.agg",
        {"depth": 52, "classes": 100},
        lambda: densenet.CifarNet(52, 24, True, True, 100),
        (3, 32, 32),
    ),
    (
        "log_densenet.agg",
        {"depth": 40, "bottleneck": False},
        lambda: log_densenet.LogDenseNet(40, 12, False),
        (3, 32, 32),
    ),
    ("log_densenet.agg", {"depth": 52}, lambda: log_densenet.LogDenseNet(52, 12, True), (3, 32, 32)),
    ("preact_resnet.agg", {"depth": 20}, lambda: resnet.PreActResNet(20), (3, 32, 32)),
    ("plain.agg", {}, others.Plain, (3, 32, 32)),
    ("fractalnet.agg", {"columns": 3}, others.FractalNet, (3, 32, 32)),
    (
        "randwire.agg",
        {"nodes": 10, "channels": 16, "classes": 10, "seed": 4},
        lambda: others.RandWire(10, 16, 10, 4),
        (3, 64, 64),
    ),
]


# Compared in float64: VoVNet's train-mode gradients amplify float32 rounding (the two sides
# average a channel in different orders) about 10^7-fold through its batch norms over 2x2
# maps at batch 2; in float64 the two agree to 2e-9 of the gradient's scale.
IN_FLOAT64 = frozenset({"vovnet.agg"})


def perturb_batchnorm(model: nn.Module, seed: int) -> None:
    """Give BN (and RandWire's merge gates) non-trivial values, so eval mode is a real test."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, others.RandNode) and hasattr(module, "weight"):
                module.weight.normal_(generator=generator)
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.2, 0.2, generator=generator)
                module.running_mean.uniform_(-0.1, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)


@pytest.mark.parametrize(
    ("name", "overrides", "reference_factory", "shape"),
    [pytest.param(*case, id=f"{case[0]}{case[1]}", marks=slow_if_heavy(case[0])) for case in CASES],
)
# eval mode (running statistics) in the full suite; train mode in both tiers
@pytest.mark.parametrize("train", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["train", "eval"])
def test_matches_hand_written_reference(name, overrides, reference_factory, shape, train: bool) -> None:
    torch.manual_seed(0)
    reference = reference_factory()
    perturb_batchnorm(reference, 1)
    model = aggspec.build(EXAMPLES / name, **overrides)
    pairs = port_state_dict(model, reference.state_dict())
    assert len(pairs) == len(reference.state_dict())
    model.train(train)
    reference.train(train)
    dtype = torch.float64 if name in IN_FLOAT64 else torch.float32
    model.to(dtype)
    reference.to(dtype)

    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch.manual_seed(4)  # the same dropout masks in both, drawn in the same order
    y_ours = model(x_ours)
    torch.manual_seed(4)
    y_ref = reference(x_ref)
    torch.testing.assert_close(y_ours, y_ref, atol=1e-5, rtol=1e-5)

    grad = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
    y_ours.backward(grad)
    y_ref.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    ours = dict(model.named_parameters())
    theirs = dict(reference.named_parameters())
    for key, ref_key in pairs:
        if key in ours:
            torch.testing.assert_close(ours[key].grad, theirs[ref_key].grad, atol=1e-5, rtol=1e-5, msg=key)
