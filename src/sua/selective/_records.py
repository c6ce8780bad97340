"""Read score records (``ScoreRecord`` objects or the dicts of a ``sua score`` JSONL file)
into the arrays the post-hoc objects work on. No model pass: everything comes from the cache."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.io import read_jsonl
from sua.manifest import meta_path_for
from sua.measures import check_probabilities
from sua.scoring import ScoreRecord
from sua.validate import check_score_records, read_json_object

#: A record as written by ``sua score``: the dataclass or its JSON dict.
RecordLike = ScoreRecord | Mapping[str, Any]


_MISSING = object()


def record_id(record: Any, position: int) -> Any:
    """The record's ``id``, or its position when it has none (for error messages)."""
    rid = record.get("id") if isinstance(record, Mapping) else getattr(record, "id", None)
    return position if rid is None else rid


def get(record: Any, name: str, position: int, default: Any = _MISSING) -> Any:
    """Field ``name`` of a record (dict or dataclass): ``default`` when it is missing and one
    is given, else a clear error."""
    value = (record.get(name, default) if isinstance(record, Mapping)
             else getattr(record, name, default))
    if value is _MISSING:
        raise SUAInputError(f"record {record_id(record, position)!r} has no field {name!r}; pass "
                            "score records written by `sua score` (or ScoreRecord objects)")
    return value


def as_list(records: Iterable[RecordLike]) -> list[RecordLike]:
    """The records as a list; an empty input is an error."""
    out = list(records)
    if not out:
        raise SUAInputError("no records: pass at least one score record")
    return out


def column(records: Sequence[RecordLike], name: str) -> np.ndarray:
    """A finite float field of every record, shape (N,)."""
    raw = [get(r, name, i) for i, r in enumerate(records)]
    try:
        values = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise SUAInputError(f"field {name!r} must be a number in every record") from None
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise SUAInputError(f"record {record_id(records[i], i)!r}: {name} = {values[i]} "
                            "is not a finite number")
    return values


def correct(records: Sequence[RecordLike], purpose: str) -> np.ndarray:
    """The ``correct`` field of every record as bools; unlabelled records are an error."""
    values = [get(r, "correct", i) for i, r in enumerate(records)]
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        i = missing[0]
        raise SUAInputError(f"{purpose} needs gold labels, but {len(missing)} of {len(values)} "
                            f"records have correct = null (first: {record_id(records[i], i)!r}); "
                            "score labelled data")
    return np.asarray(values, dtype=bool)


def labelled(records: Sequence[RecordLike]) -> bool:
    """Whether every record has a gold label (``correct`` present and not null)."""
    return all(get(r, "correct", i, None) is not None for i, r in enumerate(records))


def probability_arrays(records: Sequence[RecordLike],
                       labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cached ``p(.|x)`` (N, C), ``p(.|x'_k)`` (N, K, C) and gold label ids (N,), -1 if none.

    ``labels`` is the model's label list (the order of ``probs``); every record needs the
    same number K >= 1 of perturbations.
    """
    index = {name: j for j, name in enumerate(labels)}
    clean, perturbed, y = [], [], []
    for i, rec in enumerate(records):
        perts = get(rec, "perturbations", i)
        clean.append(get(rec, "probs", i))
        perturbed.append([get(p, "probs", i) for p in perts])
        label = get(rec, "label", i)
        if label is not None and str(label) not in index:
            raise SUAInputError(f"record {record_id(rec, i)!r}: label {label!r} is not one of "
                                f"the model's labels {list(labels)}")
        y.append(-1 if label is None else index[str(label)])
    ks = {len(p) for p in perturbed}
    if len(ks) != 1 or 0 in ks:
        raise SUAInputError(f"every record needs the same number K >= 1 of perturbations with "
                            f"cached probs; found K in {sorted(ks)}")
    p_clean, p_pert = np.asarray(clean, dtype=np.float64), np.asarray(perturbed, dtype=np.float64)
    if p_clean.ndim != 2 or p_clean.shape[1] != len(labels) or p_pert.shape[2:] != (len(labels),):
        raise SUAInputError(f"cached probs have {p_clean.shape[-1]} classes but the label list "
                            f"has {len(labels)} ({list(labels)})")
    check_probabilities(p_clean, "record probs")
    check_probabilities(p_pert, "perturbation probs")
    return p_clean, p_pert, np.asarray(y, dtype=np.int64)


def scores_path(source: str | os.PathLike[str]) -> Path:
    """A scores JSONL file, or the run folder holding one (``scores.jsonl``, or the single
    ``*.jsonl`` that has a ``.meta.json`` beside it)."""
    path = Path(source)
    if not path.is_dir():
        return path
    if (path / "scores.jsonl").is_file():
        return path / "scores.jsonl"
    found = sorted(p for p in path.glob("*.jsonl") if meta_path_for(p).is_file())
    if len(found) != 1:
        raise SUAInputError(f"{path}: expected one scores file (scores.jsonl, or one *.jsonl "
                            f"with a .meta.json), found {[p.name for p in found]}; pass the file")
    return found[0]


def load_scores(source: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records of a ``sua score`` output (file or run folder) and the run's config
    (``{}`` when the ``.meta.json`` is missing)."""
    path = scores_path(source)
    records = as_list(check_score_records((rec for _, rec in read_jsonl(path)), path))
    meta = meta_path_for(path)
    config = read_json_object(meta, "run metadata").get("config", {}) if meta.is_file() else {}
    if not isinstance(config, dict):
        raise SUAInputError(f"{meta}: config must be an object")
    return records, config
