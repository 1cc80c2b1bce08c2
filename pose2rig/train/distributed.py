"""Data-parallel training under ``torchrun``: one process per device, one model replica each.

``torchrun --nproc-per-node N -m pose2rig.cli train ...`` (or any launcher that sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``) starts N copies of the same
command; :func:`setup` joins them (``env://``; NCCL on cuda, gloo on cpu) and gives each its
device (``cuda:LOCAL_RANK``). Without those variables everything here is a no-op for one process.

Convention:
    - Gradients are averaged across processes by :class:`torch.nn.parallel.DistributedDataParallel`;
      every replica starts from rank 0's weights and stays identical.
    - Each process draws its own data and cameras: RNG seed ``seed + RANK_STRIDE * rank`` (rank 0
      keeps ``seed``, so a one-process run is unchanged).
    - Only rank 0 validates and writes files (checkpoints, curves, the final lifter).
    - BatchNorm: SyncBatchNorm on cuda (statistics over the whole batch); on cpu per process,
      running statistics averaged over processes at every checkpoint.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pose2rig.errors import ArgumentError, Pose2RigError

log = logging.getLogger(__name__)

RANK_STRIDE = 1_000_003
"""Seed offset between processes' random streams."""


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job.

    Attributes:
        rank, world_size, local_rank: from the launcher (0, 1, 0 for a lone process).
        device: this process's torch device.
        owns_group: whether :func:`setup` created the process group (then :func:`teardown` ends it).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str) -> DistInfo:
    """Join the ``torchrun`` job if there is one; ``device`` is "cpu" or "cuda"."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device == "cuda" and not torch.cuda.is_available():
        raise ArgumentError("{device} cuda asked for, but torch sees no CUDA device", "device")
    if world <= 1:
        return DistInfo(0, 1, 0, torch.device(device))
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        if local >= torch.cuda.device_count():
            raise Pose2RigError(f"process {rank}: LOCAL_RANK {local} but {torch.cuda.device_count()} GPUs")
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    owns = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method="env://")
        owns = True
    if dist.get_world_size() != world:
        raise Pose2RigError(f"WORLD_SIZE {world} but the process group has {dist.get_world_size()}")
    log.info("process %d of %d on %s", rank, world, dev)
    return DistInfo(rank, world, local, dev, owns)


def teardown(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def mean_over_ranks(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average of ``t`` over processes (``t`` itself for one)."""
    if not info.distributed:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / info.world_size


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every process when ``flag`` is true on any."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather(obj: object, info: DistInfo) -> list[object]:
    """Every process's ``obj``, in rank order (on every process)."""
    if not info.distributed:
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def average_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over processes, in place."""
    if not info.distributed:
        return
    for b in module.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b /= info.world_size


def wrap(module: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """``module`` in DistributedDataParallel when there are several processes.

    On cuda its BatchNorm layers become SyncBatchNorm (statistics over the whole batch, as in one
    process) in place; gloo has no SyncBatchNorm, so on cpu each process normalises its share of
    the batch and :func:`average_buffers` evens out the running statistics.
    """
    if not info.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if info.device.type == "cuda":
        for name, child in list(module.named_children()):
            setattr(module, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


__all__ = ["RANK_STRIDE", "DistInfo", "any_rank", "average_buffers", "barrier", "gather", "mean_over_ranks", "setup",
           "teardown", "wrap"]
