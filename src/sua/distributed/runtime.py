"""Connecting to Ray: an existing cluster by address, else a local instance sized to the machine."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from sua.errors import SUAInputError

INSTALL_HINT = "pip install 'sua[ray]'"


def import_ray() -> ModuleType:
    """The ``ray`` module, or :class:`SUAInputError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is what the engines use
    except ImportError:
        raise SUAInputError(f"--engine ray needs Ray Data: {INSTALL_HINT}") from None
    return ray


def connect(address: str | None = None) -> ModuleType:
    """Make sure this process is connected to Ray and return the ``ray`` module.

    An already initialised session (e.g. a test's or a notebook's ``ray.init(...)``) is used as
    it is. ``address``: an existing cluster (``auto``, ``ray://head:10001``, ``host:6379``);
    without it a local instance is started with every CPU (and GPU) of this machine and no
    dashboard, so ``--engine ray`` works on a laptop.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        raise SUAInputError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
    except Exception as exc:  # ray raises a bare Exception when its local processes do not come up
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        raise SUAInputError(f"could not start {where}: {str(exc).splitlines()[0]} (a busy machine "
                            "can time out Ray's start; retry, or start Ray first with "
                            "`ray start --head`)") from None
    return ray


def check_workers(num_workers: int | None, batch_size: int) -> None:
    """An engine's ``num_workers`` (None: sized to the cluster) and ``batch_size`` are positive."""
    if num_workers is not None and num_workers < 1:
        raise SUAInputError(f"num_workers must be >= 1, got {num_workers}")
    if batch_size < 1:
        raise SUAInputError(f"batch_size must be >= 1, got {batch_size}")


def cluster_cpus(ray: ModuleType) -> int:
    """CPUs of the connected cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus(ray: ModuleType) -> int:
    """GPUs of the connected cluster."""
    return int(ray.cluster_resources().get("GPU", 0))


def objects(items: list[Any]) -> np.ndarray:
    """A 1-D object array of ``items``: a Ray Data column of Python objects (numpy would
    otherwise unpack tuples into a 2-D array)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out
