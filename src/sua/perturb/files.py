"""Perturb a JSONL file: one output line per input with its K perturbation records.

This is the API behind ``sua perturb --data FILE --field text --k 8 --out perturbations.jsonl``.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

import sua
from sua import defaults
from sua.errors import SUAInputError
from sua.fingerprint import model_fingerprint
from sua.inputs import Example
from sua.io import JsonlAppender, count_records, finished_ids, iter_examples
from sua.manifest import require_same_config, write_manifest
from sua.models.base import PredictiveModel
from sua.outputs import guarded_output
from sua.perturb.base import Perturber
from sua.perturb.cache import CachedPerturber
from sua.perturb.mixture import acceptance_rates
from sua.perturb.protect import Protector, protector_from_names
from sua.perturb.registry import build_perturber
from sua.validate import check_data, read_json_object


@dataclass
class DrawnChunk:
    """Output lines of a chunk of inputs, ``{"id", "text", "perturbations"}`` each, and the
    mixture's acceptance counts spent drawing them (family -> (valid, seen); empty for the
    other families)."""

    lines: list[dict[str, Any]]
    counts: dict[str, tuple[int, int]]


def draw_chunk(runner: Perturber, examples: Sequence[Example], *, k: int, seed: int) -> DrawnChunk:
    """K draws per example with ``runner`` (a perturber or a :class:`CachedPerturber`), after one
    ``prepare`` call on the texts that are not cached yet: what every engine runs on a chunk."""
    cached = runner if isinstance(runner, CachedPerturber) else None
    misses = [ex.text for ex in examples
              if cached is None or not cached.has(ex.text, k, input_id=ex.id, seed=seed)]
    if misses and hasattr(runner, "prepare"):
        runner.prepare(misses)
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


def perturb_file(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    field: str = "text",
    id_field: str = "id",
    context_field: str | None = None,
    k: int = defaults.K,
    family: str = "mixture",
    seed: int = 0,
    model: PredictiveModel | None = None,
    protect: Protector | str | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    chunk_size: int = 64,
    progress: bool = True,
    model_source: str | os.PathLike[str] | None = None,
    allow_empty: bool = False,
    engine: PerturbEngine | None = None,
    **options: Any,
) -> Path:
    """Write ``{"id", "text", "perturbations": [record, ...]}`` per input of ``data`` to ``out``.

    ``field`` is the text perturbed, ``context_field`` an optional first segment the model sees
    with it (NLI premise when perturbing the hypothesis; used by the adversarial family).
    ``family`` is a :data:`~sua.perturb.registry.PERTURBERS` name built with ``options`` (e.g.
    ``weights={...}`` for the mixture, ``kinds=(...)`` for token), ``model`` (adversarial goal)
    and ``protect`` (a protector or names such as ``"numbers,negations"``). Draws are cached on
    disk (:class:`~sua.perturb.cache.CachedPerturber`) unless ``cache=False``. ``engine`` says
    where they are drawn (default: this process, ``chunk_size`` inputs at a time; e.g.
    :class:`sua.distributed.RayPerturbEngine`, whose workers share the disk cache); the file is
    the same either way.

    Resumable: ids already in ``out`` are skipped and appended lines are flushed per chunk.
    Beside ``out``, ``<out>.config.json`` records the perturber, k, seed, versions, the content
    fingerprint of ``model_source`` (the adversarial goal's folder) and, for a mixture, the
    acceptance rate per family; it is written first, and a rerun whose config differs is refused.
    The data is read once first (:func:`sua.validate.check_data`: unique non-null ids, not empty
    unless ``allow_empty``); ``out`` must not be ``data`` and is locked against a second writer.
    Returns ``out``.
    """
    out = Path(out)
    check_data(data, id_field=id_field, limit=limit, allow_empty=allow_empty)
    contexts: dict[str, str] | None = {} if context_field else None
    perturber = build_perturber(
        family, model=model, protect=protector_from_names(protect) if isinstance(protect, str) else protect,
        to_model_input=None if contexts is None else (lambda i, text: (contexts[i], text)), **options)
    config_path = out.with_name(out.name + ".config.json")
    config = {"data": str(data), "field": field, "context_field": context_field, "family": family, "k": k,
              "seed": seed, "perturber": repr(perturber), "sua_version": sua.__version__,
              "model_fingerprint": model_fingerprint(model_source)}
    with guarded_output(out, data):
        _check_resume(out, config_path, config)
        write_manifest(config_path, config)
        cached = CachedPerturber(perturber, cache_dir) if cache else None
        runner = cached or perturber
        done = finished_ids(out)
        examples = iter_examples(data, text_field=field, pair_field=None, label_field=None, id_field=id_field,
                                 limit=limit)
        todo = (ex for ex in examples if ex.id not in done)
        if contexts is not None:
            todo = _with_contexts(todo, contexts, str(context_field), data)
        total = count_records(data) if limit is None else limit
        chunks = (_draw_here(runner, todo, k=k, seed=seed, chunk_size=chunk_size) if engine is None
                  else engine.draw(runner, todo, k=k, seed=seed))
        counts = _counts(perturber)
        bar = tqdm(total=None if total is None else max(total - len(done), 0), disable=not progress,
                   desc="perturb", unit="input")
        with JsonlAppender(out) as sink, bar:
            for chunk in chunks:
                for line in chunk.lines:
                    sink.write(line)
                sink.flush()
                bar.update(len(chunk.lines))
                counts = {f: (v + chunk.counts[f][0], n + chunk.counts[f][1]) for f, (v, n) in counts.items()}
        if cached is not None:
            cached.close()
        config.update(cache=str(cached.path) if cached else None,
                      acceptance_rates={f: None if math.isnan(r) else r
                                        for f, r in acceptance_rates(counts).items()})
        write_manifest(config_path, config)
    return out


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


def _check_resume(out: Path, config_path: Path, config: dict[str, Any]) -> None:
    """Refuse appending to ``out`` unless its config file says the same perturbations were drawn."""
    if not out.exists():
        return
    if not config_path.exists():
        raise SUAInputError(f"{out} exists but has no {config_path.name}; it was not written by sua "
                            "perturb. Remove it or choose another --out")
    previous = read_json_object(config_path, "perturbation config")
    require_same_config(previous, config, f"{out} was written with a different config",
                        "remove it or choose another --out", keys=_RESUME_KEYS)
