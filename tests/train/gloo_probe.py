"""Run by torchrun: can this machine run gloo processes under DDP at all?

``test_distributed`` runs this only after its own torchrun failed, to tell a
sandbox that cannot host gloo (the test is then skipped, with this probe's
output as the reason) from a bug in aggspec's training (the test fails).
"""

from __future__ import annotations

import torch
from torch import distributed as dist
from torch import nn


def main() -> None:
    dist.init_process_group("gloo")
    total = torch.ones(3)
    dist.all_reduce(total)
    assert int(total[0]) == dist.get_world_size(), total
    model = nn.parallel.DistributedDataParallel(nn.Linear(4, 2))
    model(torch.randn(8, 4)).sum().backward()
    rank = dist.get_rank()
    dist.destroy_process_group()
    print(f"rank {rank}: gloo and DDP work")


if __name__ == "__main__":  # pytest imports this file too (doctests): only torchrun runs it
    main()
