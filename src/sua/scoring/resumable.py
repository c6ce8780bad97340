"""The one resumable writer every scorer's ``score_file`` goes through (classifier, extractive
QA, generative): data checked and output locked before any model call, the run's config compared
with the one an existing output was written with, finished inputs skipped, one JSONL line per
:class:`~sua.records.ScoreRecord` appended."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.fingerprint import model_fingerprint
from sua.inputs import Example
from sua.io import JsonlAppender, finished_ids, iter_examples
from sua.manifest import meta_path_for, require_same_config, versions, write_manifest
from sua.outputs import guarded_output
from sua.records import ScoreRecord
from sua.validate import check_data, read_json_object

#: Written lines reach the disk (flush and fsync) at least this often, and when the writer
#: closes, normally or on an error: an interruption loses at most this much scoring.
FLUSH_SECONDS = 1.0

#: ``score(examples, remaining)``: the records of ``examples`` (the inputs not yet in the output;
#: ``remaining`` of them when known, for a progress bar), one per input, in any order.
ScoreFn = Callable[[Iterator[Example], int | None], Iterable[ScoreRecord]]


def write_scores(data: str | os.PathLike[str], out: str | os.PathLike[str], config: Mapping[str, Any],
                 reader: Mapping[str, Any], score: ScoreFn, *, limit: int | None, overwrite: bool,
                 allow_empty: bool) -> Path:
    """Score the examples ``iter_examples(data, **reader, limit=limit)`` into ``out`` (JSONL),
    resumably, through :func:`resumable_output` (``reader["id_field"]`` names the ids): only the
    inputs missing from ``out`` go to ``score``, and each record is appended as one line; lines
    are flushed every :data:`FLUSH_SECONDS` and at the end. Returns ``out``'s path."""
    with resumable_output(data, out, config, id_field=reader["id_field"], limit=limit,
                          overwrite=overwrite, allow_empty=allow_empty) as (out_path, done, data_ids):
        remaining = len(data_ids - done)
        examples = (ex for ex in iter_examples(data, **reader, limit=limit) if ex.id not in done)
        with JsonlAppender(out_path) as sink:
            flushed = time.monotonic()
            for record in score(examples, remaining):
                sink.write(record.to_dict())
                if time.monotonic() - flushed >= FLUSH_SECONDS:
                    sink.flush()
                    flushed = time.monotonic()
    return out_path


@contextmanager
def resumable_output(data: str | os.PathLike[str], out: str | os.PathLike[str], config: Mapping[str, Any], *,
                     id_field: str, limit: int | None, overwrite: bool,
                     allow_empty: bool) -> Iterator[tuple[Path, set[str], set[str]]]:
    """The resumable JSONL output every scorer writes through: ``(out path, finished ids, the
    data's ids up to limit)``.

    Before any model call: the data is read once (UTF-8 JSON, unique non-null ids, not empty
    unless ``allow_empty``), ``out`` must not be the data and is locked against a second writer
    for the whole block. ``config`` gains ``model_fingerprint`` (a content hash of a local
    ``model_source``) and must equal the one in ``<out stem>.meta.json`` of an existing output
    (else an error naming what differs; ``overwrite`` starts afresh), which is then rewritten
    atomically with the versions. An existing output holding ids that are not in the data (when
    no ``limit`` cuts the data) was written from other data and is refused the same way: resuming
    it would mix records of two inputs.
    """
    data_ids = check_data(data, id_field=id_field, limit=limit, allow_empty=allow_empty)
    out_path, meta_path = Path(out), meta_path_for(out)
    config = json.loads(json.dumps(dict(config)))
    if config.get("model_source") is not None:
        config["model_fingerprint"] = model_fingerprint(config["model_source"])
    with guarded_output(out_path, data):
        if overwrite:
            out_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
        if out_path.exists() and meta_path.exists():
            previous = read_json_object(meta_path, "run metadata").get("config")
            require_same_config(previous or {}, config, f"{out_path} was written with a different config",
                                "pass --overwrite or choose another --out")
        elif out_path.exists():
            raise SUAInputError(f"{out_path} exists but has no {meta_path.name}; it was not written "
                                "by sua score. Remove it or choose another --out")
        write_manifest(meta_path, {"config": config, "versions": versions()})
        finished = finished_ids(out_path)
        stale = sorted(finished - data_ids) if limit is None else []
        if stale:
            raise SUAInputError(f"{out_path} holds {len(stale)} record(s) whose ids are not in {data} "
                                f"(e.g. {', '.join(map(repr, stale[:3]))}): it was written from other "
                                "data; pass --overwrite or choose another --out")
        yield out_path, finished, data_ids
