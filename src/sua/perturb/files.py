"""Perturb a JSONL file: one output line per input with its K perturbation records.

This is the API behind ``sua perturb --data FILE --field text --k 8 --out perturbations.jsonl``:
``perturb_file(data, out, PerturbConfig(field="text", k=8))``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

import sua
from sua import defaults
from sua.errors import SUAInputError
from sua.fingerprint import model_fingerprint
from sua.inputs import Example
from sua.io import JsonlAppender, finished_ids, iter_examples
from sua.manifest import meta_path_for, require_same_config, write_manifest
from sua.models.base import PredictiveModel
from sua.models.loading import load_model
from sua.outputs import check_not_an_input, guarded_output
from sua.perturb.base import Perturber, is_int, prepare_draws
from sua.perturb.cache import CachedPerturber
from sua.perturb.mixture import acceptance_rates
from sua.perturb.protect import Protector, protector_from_names
from sua.perturb.registry import build_perturber
from sua.tasks import TaskKind
from sua.validate import check_data, read_json_object


@dataclass
class DrawnChunk:
    """Output lines of a chunk of inputs, ``{"id", "text", "perturbations"}`` each, and the
    mixture's acceptance counts spent drawing them (family -> (valid, seen); empty for the
    other families)."""

    lines: list[dict[str, Any]]
    counts: dict[str, tuple[int, int]]


def draw_chunk(runner: Perturber, examples: Sequence[Example], *, k: int, seed: int) -> DrawnChunk:
    """K draws per example with ``runner`` (a perturber or a :class:`CachedPerturber`), after its
    batched work for the examples not cached yet (:func:`~sua.perturb.base.prepare_draws`:
    translations, tags, the adversarial searches run together): what every engine runs on a chunk."""
    cached = runner if isinstance(runner, CachedPerturber) else None
    misses = [ex for ex in examples
              if cached is None or not cached.has(ex.text, k, input_id=ex.id, seed=seed)]
    if misses:
        prepare_draws(runner, [(ex.text, ex.id, seed) for ex in misses], k)
    base = cached.perturber if cached is not None else runner
    before = _counts(base)
    lines = [{"id": ex.id, "text": ex.text,
              "perturbations": [d.to_dict() for d in runner.perturb(ex.text, k, input_id=ex.id, seed=seed)]}
             for ex in examples]
    return DrawnChunk(lines, {f: (v - before[f][0], n - before[f][1]) for f, (v, n) in _counts(base).items()})


def _counts(perturber: Perturber) -> dict[str, tuple[int, int]]:
    counts = getattr(perturber, "acceptance_counts", None)
    return counts() if counts is not None else {}


class PerturbEngine(Protocol):
    """Where rewrites are drawn: ``draw(runner, examples, k=..., seed=...)`` yields
    :class:`DrawnChunk` s covering each example once, in input order (without an engine,
    :func:`perturb_file` draws chunk by chunk in this process)."""

    def draw(self, runner: Perturber, examples: Iterable[Example], *, k: int,
             seed: int) -> Iterator[DrawnChunk]: ...


def _draw_here(runner: Perturber, examples: Iterable[Example], *, k: int, seed: int,
               chunk_size: int) -> Iterator[DrawnChunk]:
    it = iter(examples)
    while chunk := list(itertools.islice(it, chunk_size)):
        yield draw_chunk(runner, chunk, k=k, seed=seed)


@dataclass(frozen=True)
class PerturbConfig:
    """What :func:`perturb_file` draws, from which fields, and how it reads and caches.

    Draws: ``family`` is a :data:`~sua.perturb.registry.PERTURBERS` name built with ``options``
    (e.g. ``{"weights": {...}}`` for the mixture, ``{"kinds": (...), "max_edits": 2}`` for
    token, ``{"budget": 32, "max_swaps": 1}`` for adversarial) and ``protect`` (a protector or
    names such as ``"numbers,negations"``); ``k`` rewrites per input (>= 1) drawn with ``seed``.

    Fields: ``field`` is the text perturbed and ``context_field`` an optional first segment the
    model sees with it (the NLI premise when the hypothesis is perturbed; used by the
    adversarial family). Both default to ``task``'s (:class:`~sua.tasks.TaskKind`): its
    rewritten field, and its first text when it rewrites the pair; without a task, ``"text"``
    and none. ``context_field=""`` means none. ``task`` also names the head of a model given
    by path. ``id_field``, ``limit`` (the first N records) and ``allow_empty`` say how the data
    is read.

    Work: draws are cached on disk (:class:`~sua.perturb.cache.CachedPerturber`, under
    ``cache_dir``) unless ``cache=False``; without an engine, ``chunk_size`` (>= 1) inputs are
    drawn at a time.

    >>> from sua.tasks import KINDS
    >>> config = PerturbConfig(family="token", k=4, task=KINDS["nli"])
    >>> config.perturbed_field, config.model_context_field
    ('hypothesis', 'premise')
    >>> PerturbConfig(k=0)
    Traceback (most recent call last):
    ...
    sua.errors.SUAInputError: k (perturbations per input) must be an integer >= 1, got 0
    """

    family: str = "mixture"
    k: int = defaults.K
    seed: int = 0
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    protect: Protector | str | None = None
    task: TaskKind | None = None
    field: str | None = None
    context_field: str | None = None
    id_field: str = "id"
    limit: int | None = None
    allow_empty: bool = False
    cache: bool = True
    cache_dir: str | os.PathLike[str] | None = None
    chunk_size: int = 64

    def __post_init__(self) -> None:
        if not is_int(self.k) or self.k < 1:
            raise SUAInputError(f"k (perturbations per input) must be an integer >= 1, got {self.k!r}")
        if not is_int(self.seed) or self.seed < 0:
            raise SUAInputError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not is_int(self.chunk_size) or self.chunk_size < 1:
            raise SUAInputError(f"chunk_size must be an integer >= 1, got {self.chunk_size!r}")

    @property
    def perturbed_field(self) -> str:
        """The record field whose text is rewritten."""
        if self.field:
            return self.field
        return self.task.rewritten_field if self.task is not None else "text"

    @property
    def head(self) -> str:
        """The output head of the task (``classification`` without one)."""
        return self.task.head if self.task is not None else "classification"

    @property
    def model_context_field(self) -> str | None:
        """The record field the model sees before the rewritten text, or ``None``."""
        if self.context_field is not None:
            return self.context_field or None
        return self.task.text_field if self.task is not None and self.task.rewrite == "pair" else None


def perturb_file(data: str | os.PathLike[str], out: str | os.PathLike[str],
                 config: PerturbConfig | None = None, *,
                 model: PredictiveModel | str | os.PathLike[str] | None = None, progress: bool = True,
                 engine: PerturbEngine | None = None) -> Path:
    """Write ``{"id", "text", "perturbations": [record, ...]}`` per input of ``data`` to ``out``,
    drawn as ``config`` (:class:`PerturbConfig`) says.

    ``model`` is the adversarial family's goal (the mixture adds that family when it is given):
    a built :class:`~sua.models.base.PredictiveModel`, or a folder or hub name loaded with the
    encoder adapter of ``config.task``'s head (:func:`sua.models.load_model`). ``engine`` says
    where the draws run (default: this process; e.g. :class:`sua.distributed.RayPerturbEngine`,
    whose workers share the disk cache); the file is the same either way.

    Resumable: ids already in ``out`` are skipped and appended lines are flushed per chunk.
    Beside ``out``, its run manifest ``<out stem>.meta.json`` (:func:`sua.manifest.meta_path_for`)
    records the perturber, k, seed, versions, the content fingerprint of a ``model`` given by
    path and, for a mixture, the acceptance rate per family; it is written first, and a rerun
    whose config differs is refused. The data is read once first (:func:`sua.validate.check_data`:
    unique non-null ids, not empty unless ``allow_empty``); ``out`` must not be ``data`` and is
    locked against a second writer. Returns ``out``.
    """
    config = config or PerturbConfig()
    out = Path(out)
    data_ids = check_data(data, id_field=config.id_field, limit=config.limit, allow_empty=config.allow_empty)
    model_source = model if isinstance(model, (str, os.PathLike)) else None
    if model_source is not None:
        model = load_model(model_source, head=config.head)
    contexts: dict[str, str] | None = {} if config.model_context_field else None
    perturber = _build(config, model, contexts)
    manifest_path = meta_path_for(out)
    manifest = {"data": str(data), "field": config.perturbed_field,
                "context_field": config.model_context_field, "family": config.family, "k": config.k,
                "seed": config.seed, "perturber": repr(perturber),
                "sua_version": sua.__version__, "model_fingerprint": model_fingerprint(model_source)}
    check_not_an_input(manifest_path, [data])
    with guarded_output(out, data):
        _check_resume(out, manifest)
        write_manifest(manifest_path, manifest)
        legacy_manifest_path(out).unlink(missing_ok=True)
        cached = CachedPerturber(perturber, config.cache_dir) if config.cache else None
        counts = _append_draws(data, data_ids, out, config, cached or perturber, contexts,
                               progress=progress, engine=engine)
        if cached is not None:
            cached.close()
        manifest.update(cache=str(cached.path) if cached else None,
                        acceptance_rates={f: None if math.isnan(r) else r
                                          for f, r in acceptance_rates(counts).items()})
        write_manifest(manifest_path, manifest)
    return out


def _build(config: PerturbConfig, model: PredictiveModel | None,
           contexts: dict[str, str] | None) -> Perturber:
    """The perturber of ``config``; with ``contexts`` (filled as inputs are read) the model sees
    ``(context, rewritten text)``."""
    protect = protector_from_names(config.protect) if isinstance(config.protect, str) else config.protect
    to_model_input = None if contexts is None else (lambda i, text: (contexts[i], text))
    return build_perturber(config.family, model=model, protect=protect, to_model_input=to_model_input,
                           **config.options)


def _append_draws(data: str | os.PathLike[str], data_ids: set[str], out: Path, config: PerturbConfig,
                  runner: Perturber, contexts: dict[str, str] | None, *, progress: bool,
                  engine: PerturbEngine | None) -> dict[str, tuple[int, int]]:
    """Draw the inputs of ``data`` (ids ``data_ids``, as :func:`~sua.validate.check_data` read
    them) not yet in ``out`` with ``runner`` and append their lines, flushed per chunk; the
    mixture's acceptance counts (family -> (valid, seen)) afterwards."""
    done = finished_ids(out)
    examples = iter_examples(data, text_field=config.perturbed_field, pair_field=None, label_field=None,
                             id_field=config.id_field, limit=config.limit)
    todo = (ex for ex in examples if ex.id not in done)
    if contexts is not None:
        todo = _with_contexts(todo, contexts, str(config.model_context_field), data)
    chunks = (_draw_here(runner, todo, k=config.k, seed=config.seed, chunk_size=config.chunk_size)
              if engine is None else engine.draw(runner, todo, k=config.k, seed=config.seed))
    counts = _counts(runner.perturber if isinstance(runner, CachedPerturber) else runner)
    bar = tqdm(total=len(data_ids - done), disable=not progress, desc="perturb", unit="input")
    with JsonlAppender(out) as sink, bar:
        for chunk in chunks:
            for line in chunk.lines:
                sink.write(line)
            sink.flush()
            bar.update(len(chunk.lines))
            counts = {f: (v + chunk.counts[f][0], n + chunk.counts[f][1]) for f, (v, n) in counts.items()}
    return counts


def _with_contexts(examples: Iterable[Example], contexts: dict[str, str], context_field: str,
                   data: str | os.PathLike[str]) -> Iterator[Example]:
    """``examples``, recording each one's ``context_field`` in ``contexts`` (read by the
    perturber's model-input builder) before it is drawn."""
    for ex in examples:
        if ex.meta.get(context_field) is None:
            raise SUAInputError(f"{data}: input {ex.id!r} has no {context_field!r} field "
                                "(the context the model sees with the perturbed text)")
        contexts[ex.id] = str(ex.meta[context_field])
        yield ex


#: Config entries a resumed ``perturb_file`` run must share with the run that wrote ``out``.
_RESUME_KEYS = ("data", "field", "context_field", "family", "k", "seed", "perturber", "model_fingerprint")


def legacy_manifest_path(out: str | os.PathLike[str]) -> Path:
    """``perturbations.jsonl`` → ``perturbations.jsonl.config.json``: where ``sua perturb`` wrote
    its manifest before it used :func:`~sua.manifest.meta_path_for` like every other command."""
    p = Path(out)
    return p.with_name(p.name + ".config.json")


def _check_resume(out: Path, manifest: dict[str, Any]) -> None:
    """Refuse appending to ``out`` unless its manifest says the same perturbations were drawn.

    The manifest is ``<out stem>.meta.json``; when that is absent the pre-rename
    ``<out>.config.json`` (:func:`legacy_manifest_path`) is read instead, so that outputs written
    before the rename still resume (their manifest is then rewritten under the new name)."""
    if not out.exists():
        return
    recorded = meta_path_for(out)
    if not recorded.exists() and legacy_manifest_path(out).exists():
        recorded = legacy_manifest_path(out)
    if not recorded.exists():
        raise SUAInputError(f"{out} exists but has no {recorded.name}; it was not written by sua "
                            "perturb. Remove it or choose another --out")
    previous = read_json_object(recorded, "perturbation config")
    require_same_config(previous, manifest, f"{out} was written with a different config",
                        "remove it or choose another --out", keys=_RESUME_KEYS)
