"""Data-parallel training with ``torch.distributed`` (gloo on CPU, nccl on GPU): every process
sees its share of each micro-batch, gradients are summed across processes before the optimizer
step, so N processes take the same steps as one process with the same global batch.

The helpers are no-ops in a single process, which is what keeps one training loop for both.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from sua.errors import SUAInputError


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True in the process that writes logs, checkpoints and the model (rank 0)."""
    return world()[0] == 0


def shard(indices: np.ndarray) -> np.ndarray:
    """This process's share of a micro-batch: every ``world_size``-th index from ``rank``."""
    rank, size = world()
    return indices[rank::size]


def sum_across(values: dict[str, float]) -> dict[str, float]:
    """Σ over processes of each value (one all-reduce; the identity in a single process)."""
    if world()[1] == 1:
        return values
    keys = sorted(values)
    buffer = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(buffer)
    return dict(zip(keys, buffer.tolist(), strict=True))


def sum_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace each gradient by its sum over processes (one all-reduce of a flat buffer).

    A parameter with no gradient in any process keeps ``None`` (as in one process, where the
    optimizer skips it); one with a gradient somewhere gets zeros where it had none.
    """
    if world()[1] == 1:
        return
    params = list(parameters)
    present = torch.tensor([p.grad is not None for p in params], dtype=torch.uint8)
    dist.all_reduce(present, op=dist.ReduceOp.MAX)
    used = [p for p, flag in zip(params, present.tolist(), strict=True) if flag]
    for p in used:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in used])
    dist.all_reduce(flat)
    offset = 0
    for p in used:
        p.grad.copy_(flat[offset:offset + p.numel()].view_as(p.grad))
        offset += p.numel()


def gather(value: Any) -> list[Any] | None:
    """Every process's ``value``, in rank order (collective); ``None`` in a single process."""
    if world()[1] == 1:
        return None
    out: list[Any] = [None] * world()[1]
    dist.all_gather_object(out, value)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, nproc: int, port: int, errors: Any, fn: Callable[..., Any],
            args: tuple, kwargs: dict[str, Any]) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    cuda = torch.cuda.is_available() and torch.cuda.device_count() >= nproc
    if cuda:
        torch.cuda.set_device(rank)
    else:  # the processes share the CPUs
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=nproc)
    try:
        fn(*args, **kwargs)
    except SUAInputError as exc:
        errors.put(str(exc))
        raise
    finally:
        dist.destroy_process_group()


def check_nproc(nproc: int) -> None:
    """Raise :class:`SUAInputError` unless ``nproc`` is a usable number of processes."""
    if not isinstance(nproc, int) or nproc < 1:
        raise SUAInputError(f"nproc must be an integer >= 1, got {nproc!r}")


def run_processes(nproc: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``fn(*args, **kwargs)`` in ``nproc`` new processes joined in one process group on
    this machine (gloo on CPU; nccl, one GPU each, when there are ``nproc`` GPUs).

    ``fn`` must be importable (a module-level function). A :class:`SUAInputError` raised in any
    process is raised here; the other processes are stopped.
    """
    check_nproc(nproc)
    import torch.multiprocessing as mp

    errors = mp.get_context("spawn").SimpleQueue()
    try:
        mp.spawn(_worker, args=(nproc, _free_port(), errors, fn, args, kwargs), nprocs=nproc, join=True)
    except mp.ProcessRaisedException:
        if not errors.empty():
            raise SUAInputError(errors.get()) from None
        raise
