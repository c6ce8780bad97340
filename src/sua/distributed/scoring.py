"""`sua score --engine ray`: Ray Data streams the inputs through a rewrite stage (CPU tasks) and
a model stage (an actor pool, the model loaded once per actor); the driver writes the records
through the scorer's resumable output, so the file is the local engine's, per id (adversarial
rewrites up to the model's float noise between batch compositions, :mod:`sua.perturb.adversarial`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sua.distributed.runtime import check_workers, cluster_cpus, cluster_gpus, connect, objects
from sua.errors import SUAInputError
from sua.inputs import Example
from sua.models.base import PredictiveModel
from sua.perturb.adversarial import AdversarialPerturber
from sua.perturb.base import Perturber
from sua.records import ScoreRecord
from sua.scoring.scorer import SUAScorer


def needs_model(perturber: Perturber) -> bool:
    """True when drawing rewrites calls the model (the adversarial family, alone or in a mixture):
    such draws run inside the model stage instead of a CPU task."""
    parts = [perturber, *getattr(perturber, "families", {}).values()]
    return any(isinstance(p, AdversarialPerturber) for p in parts)


def _without_model(scorer: SUAScorer) -> SUAScorer:
    """A shallow copy of ``scorer`` whose model is left out: what is shipped to the workers."""
    template = copy.copy(scorer)
    template.model = None  # type: ignore[assignment]
    return template


class _UserError:
    """A :class:`SUAInputError` raised in a worker, carried to the driver as a row (Ray would
    wrap the exception in its own, and retry it)."""

    def __init__(self, message: str) -> None:
        self.message = message


def _draw_rewrites(batch: dict[str, np.ndarray], template: SUAScorer) -> dict[str, np.ndarray]:
    """Rewrite stage (a stateless task): the K draws of each example and their model inputs."""
    try:
        drawn: list[Any] = [template.draw(ex) for ex in batch["example"]]
    except SUAInputError as exc:
        drawn = [_UserError(str(exc))] * len(batch["example"])
    return {"example": batch["example"], "drawn": objects(drawn)}


class _ScoreActor:
    """Model stage: loads the model once, then scores each batch with one model call."""

    def __init__(self, template: SUAScorer, make_model: Callable[[], PredictiveModel]) -> None:
        self.scorer = copy.copy(template)
        self.scorer.model = make_model()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        examples, drawn = list(batch["example"]), list(batch.get("drawn", []))
        failed = [d for d in drawn if isinstance(d, _UserError)]
        if failed:
            return {"record": objects(failed[:1])}
        try:
            records = self.scorer.score_drawn(examples, drawn) if drawn else self.scorer.score_batch(examples)
        except SUAInputError as exc:
            return {"record": objects([_UserError(str(exc))])}
        return {"record": objects(records)}


class RayScoringEngine:
    """Compute score records on Ray: ``scorer.score_file(data, out, engine=RayScoringEngine(...))``.

    The remaining examples become a Ray Dataset; a ``map_batches`` task stage draws each input's K
    rewrites with the scorer's perturber (seeded per (seed, input id), so the rewrites are the
    local engine's), and a ``map_batches`` stage on a pool of ``num_workers`` actors scores them:
    each actor calls ``make_model()`` once and runs :meth:`SUAScorer.score_drawn` on batches of
    ``batch_size`` inputs. Perturbers that need the model (adversarial) and scorers with their own
    ``score_batch`` (extractive QA) draw inside the model stage. Ray retries the batches of an
    actor that dies; records reach the driver whole, and an id is never yielded twice. The
    examples still to score are read on the driver and handed to Ray as one dataset (memory: the
    inputs, not their records, which stream back).

    ``address``: an existing Ray cluster; without it (and without a running session) a local
    instance is started. ``num_workers``: actors (default: one per CPU, or one per GPU when the
    cluster has GPUs); ``gpus_per_worker``: GPUs each actor requests (default 1 when the cluster
    has GPUs, else 0); ``cpus_per_worker``: CPUs each actor requests.

    >>> # make_model = functools.partial(load_model, "runs/nli-model")
    >>> # scorer = SUAScorer(make_model(), TokenPerturber(), k=8)
    >>> # scorer.score_file("dev.jsonl", "scores.jsonl", engine=RayScoringEngine(make_model, num_workers=4))
    """

    def __init__(self, make_model: Callable[[], PredictiveModel], *, num_workers: int | None = None,
                 address: str | None = None, batch_size: int = 64, gpus_per_worker: float | None = None,
                 cpus_per_worker: float = 1.0) -> None:
        check_workers(num_workers, batch_size)
        self.make_model = make_model
        self.num_workers = num_workers
        self.address = address
        self.batch_size = batch_size
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker

    def score(self, scorer: SUAScorer, examples: Iterable[Example], *, progress: bool = False,
              total: int | None = None) -> Iterator[ScoreRecord]:
        """One record per example (in the order batches finish), as ``scorer.score_batch`` gives."""
        items = [{"example": ex} for ex in examples]
        if not items:
            return
        ray = connect(self.address)
        gpus = cluster_gpus(ray)
        per_worker_gpus = float(gpus > 0) if self.gpus_per_worker is None else self.gpus_per_worker
        workers = self.num_workers or max(1, int(gpus // per_worker_gpus) if per_worker_gpus
                                          else cluster_cpus(ray))
        ray.data.DataContext.get_current().enable_progress_bars = False  # the driver shows its own
        template = _without_model(scorer)
        ds = ray.data.from_items(items, override_num_blocks=max(1, len(items) // self.batch_size))
        if type(scorer).score_batch is SUAScorer.score_batch and not needs_model(scorer.perturber):
            # The rewrite tasks take no CPU reservation (the actors hold the cluster's CPUs and the
            # draws are light next to the model passes), so their number is capped instead: without
            # it Ray Data starts a worker process per block.
            ds = ds.map_batches(_draw_rewrites, fn_kwargs={"template": template}, batch_format="numpy",
                                batch_size=self.batch_size, num_cpus=0, concurrency=workers)
        ds = ds.map_batches(_ScoreActor, fn_constructor_args=(template, self.make_model),
                            batch_format="numpy", batch_size=self.batch_size,
                            compute=ray.data.ActorPoolStrategy(size=workers),
                            num_cpus=self.cpus_per_worker, num_gpus=per_worker_gpus)
        seen: set[str] = set()
        with tqdm(total=total, disable=not progress, unit="input", desc="scoring (ray)") as bar:
            for row in ds.iter_rows():
                record: ScoreRecord | _UserError = row["record"]
                if isinstance(record, _UserError):
                    raise SUAInputError(record.message)
                if record.id in seen:
                    continue
                seen.add(record.id)
                bar.update(1)
                yield record
