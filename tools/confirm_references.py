"""Confirm the examples against torchvision and timm themselves, by hand, in a side virtual environment.

torchvision and timm do not import beside the CPU torch wheel the project
installs, so this is no test: it runs in a venv of its own, where it builds
each example, ports the library model's weights into it (registration order,
``aggspec.port_state_dict``), and compares parameter counts and float64
eval-mode outputs (batch norm statistics perturbed, so eval mode tests them):

    python3 -m venv /tmp/sidevenv && . /tmp/sidevenv/bin/activate
    pip install torch==2.14.1 torchvision==0.29.1 timm && pip install -e .
    python tools/confirm_references.py

Each line ends with the outputs' largest difference relative to their scale
and a control: the same comparison after nudging one weight by 1e-3, which
must differ, or the comparison proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import timm  # type: ignore[import-not-found]
import torch
import torchvision  # type: ignore[import-untyped]

import aggspec
from aggspec import port_state_dict

CASES: list[tuple[str, dict[str, Any], Callable[[], torch.nn.Module]]] = [
    ("resnet18.agg", {}, lambda: torchvision.models.resnet18()),
    ("resnet50.agg", {}, lambda: torchvision.models.resnet50()),
    ("densenet121.agg", {}, lambda: torchvision.models.densenet121()),
    ("densenet121.agg", {"growth": 48, "blocks": [6, 12, 36, 24]}, lambda: torchvision.models.densenet161()),
    ("densenet121.agg", {"blocks": [6, 12, 32, 32]}, lambda: torchvision.models.densenet169()),
    ("densenet121.agg", {"blocks": [6, 12, 48, 32]}, lambda: torchvision.models.densenet201()),
    ("mobilenet_v2.agg", {}, lambda: torchvision.models.mobilenet_v2()),
    ("se_resnet50.agg", {}, lambda: timm.create_model("seresnet50")),
    ("dpn68.agg", {}, lambda: timm.create_model("dpn68")),
    ("vovnet.agg", {}, lambda: timm.create_model("ese_vovnet39b")),
    ("cspresnet50.agg", {}, lambda: timm.create_model("cspresnet50")),
]


def perturb(model: torch.nn.Module, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.2, 0.2, generator=generator)
                module.running_mean.uniform_(-0.1, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
                module.eps = 1e-5  # aggspec's bn is BatchNorm2d's default; timm's DPN uses 1e-3


def confirm(name: str, overrides: dict[str, Any], make: Callable[[], torch.nn.Module]) -> str:
    reference = make().eval().double()
    perturb(reference)
    model = aggspec.build(aggspec.load(f"examples/{name}", **overrides)).eval().double()
    ours, theirs = (sum(p.numel() for p in m.parameters()) for m in (model, reference))
    port_state_dict(model, reference.state_dict())
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        expected = reference(x)
        scale = expected.abs().max()
        difference = ((model(x) - expected).abs().max() / scale).item()
        next(model.parameters()).add_(1e-3)
        control = ((model(x) - expected).abs().max() / scale).item()
    equal = "equal" if ours == theirs else "DIFFERENT"
    return (
        f"{name} {overrides or ''}: {ours:,} parameters, theirs {theirs:,} ({equal}); "
        f"outputs differ by {difference:.1e} of their scale (control {control:.1e})"
    )


if __name__ == "__main__":
    for case in CASES:
        print(confirm(*case), flush=True)
