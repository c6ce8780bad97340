"""Score records for the post-hoc objects: a run's :class:`~sua.records.ScoreTable` and config,
and the cached distributions as arrays. No model pass: everything comes from the cache."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.manifest import meta_path_for
from sua.measures import check_probabilities
from sua.records import ScoreTable, read_scores
from sua.validate import read_json_object


def probability_arrays(table: ScoreTable,
                       labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cached ``p(.|x)`` (N, C), ``p(.|x'_k)`` (N, K, C) and gold label ids (N,), -1 if none.

    ``labels`` is the model's label list (the order of ``probs``); every record needs the
    same number K >= 1 of perturbations.
    """
    index = {name: j for j, name in enumerate(labels)}
    for rid, label in zip(table.ids, table.label, strict=True):
        if label is not None and str(label) not in index:
            raise SUAInputError(f"record {rid!r}: label {label!r} is not one of "
                                f"the model's labels {list(labels)}")
    y = [-1 if label is None else index[str(label)] for label in table.label]
    ks = {len(p) for p in table.perturbations}
    if len(ks) != 1 or 0 in ks:
        raise SUAInputError(f"every record needs the same number K >= 1 of perturbations with "
                            f"cached probs; found K in {sorted(ks)}")
    try:
        p_clean = np.asarray(table.probs, dtype=np.float64)
        p_pert = np.asarray([[p.probs for p in perts] for perts in table.perturbations], dtype=np.float64)
    except ValueError:
        raise SUAInputError(f"cached probs must have one value per label ({list(labels)}) in every "
                            "record and rewrite") from None
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


def load_scores(source: str | os.PathLike[str]) -> tuple[ScoreTable, dict[str, Any]]:
    """The records of a ``sua score`` output (file or run folder) and the run's config
    (``{}`` when the ``.meta.json`` is missing)."""
    path = scores_path(source)
    records = read_scores(path)
    meta = meta_path_for(path)
    config = read_json_object(meta, "run metadata").get("config", {}) if meta.is_file() else {}
    if not isinstance(config, dict):
        raise SUAInputError(f"{meta}: config must be an object")
    return records, config
