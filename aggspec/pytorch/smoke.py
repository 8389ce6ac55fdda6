"""Load an emitted model file and run it once: what ``aggspec compile --check`` does."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import uuid
from types import ModuleType

import torch

__all__ = ["import_model_file", "smoke_test"]


def import_model_file(path: str) -> ModuleType:
    """Import an emitted ``model.py`` (whatever its extension) under a unique module name."""
    name = f"aggspec_model_{uuid.uuid4().hex}"
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def smoke_test(path: str, batch: int = 2) -> str:
    """Build the model in ``path``, run forward and backward on a random batch, describe it.

    A batch of one runs in eval mode: batch norm cannot train on a single value per channel.
    """
    module = import_model_file(path)
    model = module.build(seed=0)
    model.train(batch > 1)
    inputs = torch.randn(batch, *model.input_shape, generator=torch.Generator().manual_seed(0))
    output = model(inputs)
    if not output.requires_grad:
        return (
            f"checked {type(model).__name__}: input {tuple(inputs.shape)} -> output {tuple(output.shape)}, "
            "no parameters, forward ran (nothing to train)"
        )
    output.float().pow(2).mean().backward()
    params = sum(p.numel() for p in model.parameters())
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    status = "every parameter got a gradient" if not missing else f"no gradient for {', '.join(missing)}"
    return (
        f"checked {type(model).__name__}: input {tuple(inputs.shape)} -> output {tuple(output.shape)}, "
        f"{params:,} parameters, forward and backward ran; {status}"
    )
