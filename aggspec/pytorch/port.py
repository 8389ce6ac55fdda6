"""Weights from a reference implementation, mapped onto a compiled model by order.

A compiled model registers its parameters and buffers in the order the spec
applies its ops, which is the order torchvision's ResNets and DenseNets (and
the SparseNet authors' code) register theirs. ``port_state_dict`` pairs the two
state_dicts entry by entry, checks that every shape agrees, and loads the
reference values: start from pretrained weights, then change the connectivity.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["PortError", "port_state_dict"]


class PortError(ValueError):
    """The reference state_dict does not line up with the model's."""


def port_state_dict(model: nn.Module, reference: Mapping[str, torch.Tensor]) -> list[tuple[str, str]]:
    """Load ``reference`` into ``model`` entry by entry, in registration order.

    Returns the (model key, reference key) pairs. Raises ``PortError`` naming
    the first entry whose shape differs, or the counts if they differ; the
    model is left unchanged then.

    >>> a, b = nn.Linear(2, 3), nn.Sequential(nn.Linear(2, 3))
    >>> port_state_dict(a, b.state_dict())
    [('weight', '0.weight'), ('bias', '0.bias')]
    """
    ours = list(model.state_dict().items())
    theirs = list(reference.items())
    for index, ((key, value), (ref_key, ref_value)) in enumerate(zip(ours, theirs, strict=False)):
        if tuple(value.shape) != tuple(ref_value.shape):
            raise PortError(
                f"entry {index} does not match: the model's {key} has shape {tuple(value.shape)}, "
                f"the reference's {ref_key} has shape {tuple(ref_value.shape)}"
            )
    if len(ours) != len(theirs):
        if len(ours) > len(theirs):
            shorter, extra = "reference", ours[len(theirs)][0]
        else:
            shorter, extra = "model", theirs[len(ours)][0]
        raise PortError(
            f"the model has {len(ours)} state_dict entries and the reference {len(theirs)}; "
            f"the {shorter} has nothing for {extra}"
        )
    pairs = list(zip(ours, theirs, strict=True))
    model.load_state_dict({key: ref_value for (key, _), (_, ref_value) in pairs})
    return [(key, ref_key) for (key, _), (ref_key, _) in pairs]
