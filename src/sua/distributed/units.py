"""`sua reproduce --engine ray` and `sua evidence unit --engine ray`: each experiment unit (task ×
preset × seed: a trained model and its score files) is a Ray task with declared CPUs (and a GPU
where the cluster has them), writing into the shared run folder; the driver then builds the
tables from those files as a local run does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sua.distributed.runtime import cluster_cpus, cluster_gpus, connect
from sua.errors import SUAInputError
from sua.eval.runner import ExperimentRun


def _compute(settings: dict[str, Any], work: Callable[..., None], unit: tuple[Any, ...],
             threads: int) -> list[str]:
    """A Ray task: ``work(run, *unit)`` on a fresh :class:`ExperimentRun` of the same folder, with
    torch on ``threads`` threads (the task's CPUs); returns the run's log lines."""
    import torch

    torch.set_num_threads(threads)
    lines: list[str] = []
    work(ExperimentRun(**settings, progress=False, log=lines.append), *unit)
    return lines


class RayUnitEngine:
    """Compute experiment units as Ray tasks: ``reproduce(..., engine=RayUnitEngine(num_workers=4))``.

    Each unit runs as one task reserving ``cpus_per_unit`` CPUs (default: the cluster's CPUs
    divided by ``num_workers``; torch in the task uses that many threads) and, when the cluster
    has GPUs, ``gpus_per_unit`` GPUs (default 1; the unit then trains and scores on CUDA), so at
    most ``num_workers`` units (default: one per GPU, else one per 4 CPUs) run at once. Every task
    works in the run folder of the driver (on a cluster: a folder every node mounts): the trained
    model and score files of a unit are its own, shared files (training data, the perturbation
    cache) are written atomically or through SQLite. Ray reruns the task of a worker that dies,
    and the unit resumes from its cached files and checkpoints. A task's log lines are printed
    by the driver when it finishes; a user error in a unit stops the job with that error.

    ``address``: an existing Ray cluster; without it (and without a running session) a local
    instance is started.
    """

    def __init__(self, *, num_workers: int | None = None, address: str | None = None,
                 cpus_per_unit: float | None = None, gpus_per_unit: float | None = None) -> None:
        if num_workers is not None and num_workers < 1:
            raise SUAInputError(f"num_workers must be >= 1, got {num_workers}")
        self.num_workers = num_workers
        self.address = address
        self.cpus_per_unit = cpus_per_unit
        self.gpus_per_unit = gpus_per_unit

    def run(self, run: ExperimentRun, work: Callable[..., None], units: Sequence[tuple[Any, ...]]) -> None:
        """``work(run, *unit)`` for every unit, as Ray tasks; returns when all are done."""
        if not units:
            return
        ray = connect(self.address)
        cpus, gpus = cluster_cpus(ray), cluster_gpus(ray)
        workers = self.num_workers or (gpus if gpus else max(1, cpus // 4))
        per_unit_cpus = self.cpus_per_unit or max(1, cpus // workers)
        per_unit_gpus = (1.0 if gpus else 0.0) if self.gpus_per_unit is None else self.gpus_per_unit
        settings = {"run_dir": run.dir, "profile": run.profile, "data_dir": run.data_dir,
                    "device": "cuda" if per_unit_gpus else run.device}
        task = ray.remote(_compute).options(num_cpus=per_unit_cpus, num_gpus=per_unit_gpus)
        pending = {task.remote(settings, work, unit, max(1, int(per_unit_cpus))): unit for unit in units}
        run.log(f"{len(units)} units on Ray, {workers} at a time ({per_unit_cpus:g} CPUs"
                + (f", {per_unit_gpus:g} GPUs" if per_unit_gpus else "") + " each)")
        try:
            while pending:
                [ready], _ = ray.wait(list(pending), num_returns=1)
                unit = pending.pop(ready)
                try:
                    lines = ray.get(ready)
                except ray.exceptions.RayTaskError as exc:
                    if isinstance(exc.cause, SUAInputError):
                        raise SUAInputError(f"unit {':'.join(map(str, unit))}: {exc.cause}") from None
                    raise
                for line in lines:
                    run.log(line)
                run.log(f"unit {':'.join(map(str, unit))} done ({len(units) - len(pending)}/{len(units)})")
        finally:
            for ref in pending:
                ray.cancel(ref)
