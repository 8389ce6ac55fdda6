"""Memory of PyTorch work, measured exactly: a step's peak, and what autograd keeps for backward.

``saved_bytes`` counts what autograd keeps (the figure ``analyze --training``
predicts); ``peak_bytes`` the most tensor memory a piece of work held at once.

On CPU, the process's resident memory says little about tensors: the C
allocator keeps freed blocks and the page cache comes and goes. PyTorch's
profiler instead records every tensor allocation and free with its size, so
the peak of the running total is exact and the same on every run. On a GPU,
CUDA's own counter (``torch.cuda.max_memory_allocated``) is exact already.
Both count tensor storage only, above what was allocated before the work began;
garbage is collected before the work and not during it, since freeing an
earlier allocation mid-way would lower the running total.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["peak_bytes", "saved_bytes", "training_step_peak"]


def peak_bytes(work: Callable[[], Any], device: torch.device | str = "cpu") -> int:
    """The most bytes of tensor storage ``work()`` had allocated at once, beyond what it found."""
    # Garbage from earlier work (a dropped model's reference cycles) must not be
    # collected in the middle: its frees would count against this work's allocations.
    gc.collect()
    gc.disable()
    try:
        return _peak_bytes(work, torch.device(device))
    finally:
        gc.enable()


def _peak_bytes(work: Callable[[], Any], device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        work()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    from torch.autograd import DeviceType  # type: ignore[attr-defined]
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as recording:
        work()
    # The kineto events hold every allocation (positive) and free (negative);
    # the profiler's summarised event list keeps only some of them.
    events = [e for e in recording.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        if event.device_type() == DeviceType.CPU:
            live += event.nbytes()
            peak = max(peak, live)
    return peak


def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for ``model(x)``'s backward pass, each storage once.

    Counted with saved-tensor hooks during the forward pass, so it is exact and
    free of allocator noise. The model's parameters and buffers (a
    convolution's weight, batch norm's running statistics) are state, not
    activations, and are left out; the input batch counts if an op keeps it.
    """
    state = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    kept: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in state:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x)
    return sum(kept.values())


def training_step_peak(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """The most tensor bytes one SGD-with-momentum training step of ``model`` holds, all counted.

    The figure ``analyze --training`` predicts as its peak: the resident state
    (parameters, buffers, the momentum buffers, the batch and its labels) plus
    what the step allocates above it at its worst. A first step, not measured,
    makes the momentum buffers, as they exist in every later step; gradients
    are set to None between steps, as ``aggspec train`` does, so the measured
    step allocates its own. ``model``, ``x`` and ``y`` are on one device.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss: Any = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    step()
    optimizer.zero_grad(set_to_none=True)
    momentum = [s["momentum_buffer"] for s in optimizer.state.values() if "momentum_buffer" in s]
    state = (*model.parameters(), *model.buffers(), *momentum, x, y)
    resident: int = sum(t.untyped_storage().nbytes() for t in state)
    return resident + peak_bytes(step, x.device)
