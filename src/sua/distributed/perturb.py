"""`sua perturb --engine ray`: Ray Data streams the inputs through a pool of rewrite actors (each
holds one copy of the perturber, its resources loaded once, and the shared disk cache); the
driver writes the lines through :func:`sua.perturb.perturb_file`'s resumable output, in input
order, so the file is the local engine's (adversarial rewrites up to the model's float noise
between batch compositions, :mod:`sua.perturb.adversarial`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from sua.distributed.runtime import check_workers, cluster_cpus, connect, objects
from sua.errors import SUAInputError
from sua.inputs import Example
from sua.perturb.base import Perturber
from sua.perturb.files import DrawnChunk, draw_chunk


class _DrawActor:
    """Rewrite stage: one perturber per actor (a :class:`~sua.perturb.cache.CachedPerturber`
    reconnects to the cache file it was built on), K draws per input of each batch."""

    def __init__(self, runner: Perturber, k: int, seed: int) -> None:
        self.runner, self.k, self.seed = runner, k, seed

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            examples = list(batch["example"])
            chunk: DrawnChunk | str = draw_chunk(self.runner, examples, k=self.k, seed=self.seed)
        except SUAInputError as exc:  # carried as a row: Ray would wrap the exception and retry it
            chunk = str(exc)
        return {"chunk": objects([chunk])}


class RayPerturbEngine:
    """Draw rewrites on Ray: ``perturb_file(data, out, engine=RayPerturbEngine(num_workers=4))``.

    The inputs still to draw become a Ray Dataset of blocks of ``batch_size`` inputs (fewer when
    that would leave an actor idle); a ``map_batches`` stage on a pool of ``num_workers`` actors
    (default: one per CPU of the cluster, ``cpus_per_worker`` CPUs each) draws each input's K
    rewrites with the perturber it was given, seeded per (seed, input id), so the rewrites are
    the local engine's. A
    :class:`~sua.perturb.cache.CachedPerturber` travels without its connection and every actor
    reconnects to the same SQLite file (one per machine: give ``cache_dir`` on a disk every node
    sees). The output keeps the input order, so an interrupted job's file is a prefix of the
    whole and the rerun appends only what is missing. A perturber that searches against a model
    (adversarial) carries it to each actor once.

    ``address``: an existing Ray cluster; without it (and without a running session) a local
    instance is started.
    """

    def __init__(self, *, num_workers: int | None = None, address: str | None = None, batch_size: int = 64,
                 cpus_per_worker: float = 1.0) -> None:
        check_workers(num_workers, batch_size)
        self.num_workers = num_workers
        self.address = address
        self.batch_size = batch_size
        self.cpus_per_worker = cpus_per_worker

    def draw(self, runner: Perturber, examples: Iterable[Example], *, k: int,
             seed: int) -> Iterator[DrawnChunk]:
        """One :class:`DrawnChunk` per block of inputs, in input order."""
        items: list[dict[str, Any]] = [{"example": ex} for ex in examples]  # read before ``runner`` ships
        if not items:
            return
        ray = connect(self.address)
        workers = min(len(items), self.num_workers or max(1, int(cluster_cpus(ray) // self.cpus_per_worker)))
        size = min(self.batch_size, -(-len(items) // workers))  # a few inputs still reach every actor
        ds = ray.data.from_items(items, override_num_blocks=-(-len(items) // size))
        ds.context.enable_progress_bars = False  # the driver shows its own
        ds.context.execution_options.preserve_order = True
        ds = ds.map_batches(_DrawActor, fn_constructor_args=(runner, k, seed), batch_format="numpy",
                            batch_size=size, compute=ray.data.ActorPoolStrategy(size=workers),
                            num_cpus=self.cpus_per_worker)
        seen: set[str] = set()
        for row in ds.iter_rows():
            chunk: DrawnChunk | str = row["chunk"]
            if isinstance(chunk, str):
                raise SUAInputError(chunk)
            if not seen.isdisjoint(line["id"] for line in chunk.lines):
                continue  # a block Ray ran twice
            seen.update(line["id"] for line in chunk.lines)
            yield chunk
