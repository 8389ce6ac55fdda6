"""Where a run executes: the device, and the process group when torchrun started it.

Under ``torchrun --nproc-per-node N -m aggspec train ...`` every process sees
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; ``setup`` then joins the process
group (nccl on GPUs, gloo on CPU) and gives each process its own GPU. Only
rank 0 prints, logs and writes; ``all_sum`` adds the ranks' counts so that
the figures it reports are those of the whole batch.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
from torch import distributed as dist

from aggspec.errors import AggSpecError

__all__ = ["DEVICES", "Placement", "all_sum", "resolve_device", "setup", "teardown"]

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Placement:
    """This process's device, rank and the number of processes."""

    device: torch.device
    rank: int = 0
    world: int = 1
    joined: bool = False  # in torchrun's process group (one process of one counts too)

    @property
    def distributed(self) -> bool:
        """Whether the model runs under DistributedDataParallel."""
        return self.joined

    @property
    def main(self) -> bool:
        """Whether this process prints, logs and writes checkpoints."""
        return self.rank == 0


def resolve_device(request: str, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA when there is a GPU, else CPU; ``cuda`` without one is an error."""
    if request not in DEVICES:
        raise AggSpecError(
            f"--device must be one of {', '.join(DEVICES)}, got '{request}'", filename="<command line>"
        )
    if request == "cuda" and not torch.cuda.is_available():
        raise AggSpecError(
            f"--device cuda: CUDA is not available (torch {torch.__version__}, "
            f"{'built without CUDA' if torch.version.cuda is None else 'no GPU visible'}); use --device cpu",
            filename="<command line>",
        )
    if request == "cpu" or (request == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def setup(request: str) -> Placement:
    """The placement of this process, joining torchrun's process group if there is one.

    torchrun sets ``RANK`` and ``WORLD_SIZE`` in every process it starts; a
    run under ``torchrun --nproc-per-node 1`` joins a group of one, so that
    the one-GPU launch takes the same path (nccl, DDP) as the many-GPU one.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Placement(resolve_device(request))
    world = int(os.environ["WORLD_SIZE"])
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(request, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Placement(device, rank, world, joined=True)


def teardown(placement: Placement, finished: bool = True) -> None:
    """Leave the process group: together after a finished run, at once after a failure.

    After a finished run every process waits for the others (rank 0 may still
    be writing its checkpoint), and the DistributedDataParallel wrapper, which
    reference cycles keep alive, is collected while the group still exists: a
    rank that left it to interpreter shutdown was seen to abort there
    ("terminate called without an active exception") after training had
    succeeded. After a failure nobody waits: the others may never arrive.
    """
    if placement.distributed and dist.is_initialized():
        if finished:
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()


def all_sum(placement: Placement, values: list[float]) -> list[float]:
    """``values`` added over all processes (unchanged in a single process)."""
    if not placement.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=placement.device)
    dist.all_reduce(tensor)
    return [float(v) for v in tensor.tolist()]
