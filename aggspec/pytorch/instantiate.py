"""A program's modules made from their constructor calls: one call per distinct ``TorchCall``, copies after.

A 3 x 1,000-layer SparseNet has 9,000 modules but a few dozen distinct
constructor calls. Constructing an ``nn.Module`` costs tens of microseconds
(each attribute ``__init__`` sets goes through ``Module.__setattr__``; a
convolution also draws default weights), a third of the build. A copy of an
instance already made (a new object with the prototype's attributes, its own
containers, and its own parameters and buffers) costs a fraction of that and
is the same module when

* constructing it draws nothing from the random number generator (batch
  norm, ReLU, pooling: every fresh instance equals the prototype), or
* it draws only weights that ``init_weights`` redraws for every instance
  (``REDRAWN``: convolutions and linear layers; a copy starts with the
  prototype's default weights, which never survive a build).

Anything else is constructed anew each time: a module with children, with
tensors outside its parameters and buffers, with parameters of a subclass or
hooks registered by its constructor, or one that draws random state
``init_weights`` leaves alone; and every module while PyTorch's global
parameter or buffer registration hooks are installed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aggspec.ir.lowering import TorchCall

__all__ = ["REDRAWN", "ModuleFactory"]

# Module classes whose every parameter runtime.init_weights overwrites with fresh draws.
REDRAWN: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


class ModuleFactory:
    """Makes modules from ``TorchCall``s, the first of each by its constructor and the rest as copies.

    The first instance of each call is the prototype of the later ones, so
    every module must be made before any is changed (``Lowered.root`` makes
    them all, then the build initialises them).
    """

    def __init__(self) -> None:
        # Keyed by the call's source text, not the call: TorchCall equality says 0.0 == -0.0
        # (LeakyReLU(-0.0) is another module), and a call holding a list has no hash.
        self._prototypes: dict[str, nn.Module | None] = {}  # None: construct every time
        self._container = nn.Module()  # kept empty: the containers' prototype

    def container(self) -> nn.Module:
        """An empty ``nn.Module``, to hold children."""
        return _copy(self._container)

    def __call__(self, call: TorchCall) -> nn.Module:
        key = call.source()
        if key in self._prototypes:
            prototype = self._prototypes[key]
            return call.build() if prototype is None or _registration_hooked() else _copy(prototype)
        before = torch.random.get_rng_state()
        module: nn.Module = call.build()
        drew = not torch.equal(before, torch.random.get_rng_state())
        self._prototypes[key] = module if _copyable(module, drew) else None
        return module


def _registration_hooked() -> bool:
    """Whether hooks on every parameter or buffer registration are installed (PyTorch's global ones).

    A copy's parameters and buffers are not registered one by one, so such a
    hook would not see them; with one installed, every module is constructed.
    """
    hooks = ("_global_parameter_registration_hooks", "_global_buffer_registration_hooks")
    return any(getattr(nn.modules.module, name, None) for name in hooks)


def _copyable(module: nn.Module, drew: bool) -> bool:
    """Whether a copy of ``module`` is the module its constructor would make (module docstring)."""
    if drew and type(module) not in REDRAWN:
        return False
    if module._modules:  # children would be shared; deep copies cost what construction does
        return False
    if any(type(p) is not nn.Parameter for p in module._parameters.values() if p is not None):
        return False
    if any(type(b) is not torch.Tensor for b in module._buffers.values() if b is not None):
        return False
    for name, value in module.__dict__.items():
        if isinstance(value, torch.Tensor):  # state outside the parameters and buffers
            return False
        if isinstance(value, dict) and value and name not in _OWN_CONTAINERS:
            return False  # a hook the constructor registered may be bound to the prototype itself
    return True


# The containers _copy replaces with the copy's own; any other non-empty dict is a reason not to copy.
_OWN_CONTAINERS = frozenset({"_parameters", "_buffers", "_modules"})


def _copy(prototype: nn.Module) -> nn.Module:
    """A new module with the prototype's attributes; containers, parameters and buffers its own.

    Hook and state dicts are copied, not shared, so registering a hook on one
    module, or replacing a parameter, does not reach the others.
    """
    module = prototype.__class__.__new__(prototype.__class__)
    state: dict[str, Any] = {
        name: value.copy() if isinstance(value, (dict, list, set)) else value
        for name, value in prototype.__dict__.items()
    }
    state["_parameters"] = type(prototype._parameters)(
        (name, None if p is None else nn.Parameter(p.detach().clone(), p.requires_grad))
        for name, p in prototype._parameters.items()
    )
    state["_buffers"] = type(prototype._buffers)(
        (name, None if b is None else b.clone()) for name, b in prototype._buffers.items()
    )
    module.__dict__.update(state)
    return module
