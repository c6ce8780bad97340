"""Every metric of the paper's tables from score records (``sua score`` output).

The array metrics themselves are :mod:`sua.measures.metrics`; the failure scores are the
registry :data:`sua.measures.failure_scores.FAILURE_SCORES`. This module reads the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.measures.failure_scores import FAILURE_SCORES, failure_score
from sua.measures.metrics import (
    _floats,
    aurc,
    brier_score,
    calibration_error,
    check_level,
    failure_auroc,
    negative_log_likelihood,
    prediction_rejection_ratio,
    robust_accuracy,
    selective_accuracy,
)
from sua.records import Records, ScoreTable

__all__ = ["metrics_from_records"]


def _robust(table: ScoreTable, ok: np.ndarray) -> dict[str, float] | None:
    """Robust accuracy, or None when there are no rewrites or a rewrite's correctness is unknown.

    A rewrite's correctness is its ``correct``, else ``prediction == label``; neither is known
    for a generated rewrite (sampled answers, no graded one), nor when a label is missing."""
    if not any(table.perturbations):
        return None
    table.k()
    cp = [[p.correct if p.correct is not None
           else None if p.prediction is None or label is None else p.prediction == label
           for p in perts] for perts, label in zip(table.perturbations, table.label, strict=True)]
    if any(c is None for row in cp for c in row):
        return None
    return robust_accuracy(np.array(cp, dtype=bool), ok)


def _calibration(table: ScoreTable, ok: np.ndarray,
                 labels: Sequence[str] | None) -> tuple[Any, Any, dict[str, Any]]:
    """Confidence and correctness to bin, and ``calibration_from`` / ``brier`` / ``nll``."""
    index = {str(name): j for j, name in enumerate(labels)} if labels is not None else {}
    if labels is None or not all(str(label) in index for label in table.label):
        return table.column("max_prob"), ok, {"calibration_from": "max_prob", "brier": None, "nll": None}
    try:
        probs = np.array(table.probs, dtype=np.float64)
    except ValueError:
        probs = np.empty((len(table), 0))
    if probs.ndim != 2 or probs.shape[1] != len(index):
        raise SUAInputError(f"records' probs have shape {probs.shape} but labels has "
                            f"{len(index)} names ({list(labels)})")
    y = np.array([index[str(label)] for label in table.label])
    brier = brier_score(probs, y)  # validates probs first
    return probs.max(axis=1), probs.argmax(axis=1) == y, {"calibration_from": "probs", "brier": brier,
                          "nll": negative_log_likelihood(probs, y)}


def _failure(table: ScoreTable, ok: np.ndarray, name: str, coverage: float) -> dict[str, float]:
    needed = FAILURE_SCORES[name].columns if name in FAILURE_SCORES else ()
    s = _floats(failure_score(name, {c: table.column(c) for c in needed}), f"failure score {name!r}")
    return {"auroc": failure_auroc(s, ~ok), "aurc": aurc(s, ok),
            "selective_accuracy": selective_accuracy(s, ok, coverage),
            "prr": prediction_rejection_ratio(s, ~ok)}


def metrics_from_records(records: Records,
                         scores: Sequence[str] | None = None, coverage: float = 0.8,
                         labels: Sequence[str] | None = None, n_bins: int = 15) -> dict[str, Any]:
    """Every metric of the paper's tables from score records (``sua score`` output).

    ``records`` are ``ScoreRecord`` objects or their dicts (read once into a
    :class:`~sua.records.ScoreTable`); unlabelled ones (``correct`` null) are skipped and
    counted in ``n_unlabelled``. ``labels`` is the model's label list, the order of each
    record's ``probs`` (the run config's ``labels``). When it is given and every gold label is
    in it, ECE, Brier and NLL use the cached probabilities; otherwise (no list, or QA spans
    whose gold answer is not a class) calibration uses ``max_prob`` vs ``correct`` and
    ``brier`` / ``nll`` are None. A perturbation's correctness is its ``correct`` field, or
    ``prediction == label`` when it has none; when neither is known (generative records) robust
    accuracy is None. ``scores`` names the failure scores to evaluate (default: every entry of
    :data:`~sua.measures.failure_scores.FAILURE_SCORES`).

    Returns ``{"n", "n_unlabelled", "accuracy", "robust_accuracy": {"expected", "worst"} | None,
    "ece": {"uniform", "quantile"}, "calibration_from": "probs" | "max_prob", "brier", "nll",
    "failure": {name: {"auroc", "aurc", "selective_accuracy", "prr"}}, "coverage", "n_bins"}``.

    >>> rec = {"correct": True, "label": "a", "max_prob": 0.9, "sua": 0.1, "sensitivity": 0.2,
    ...        "entropy": 0.1, "perturbations": [{"samples": ["x"], "probs": [1.0]}]}
    >>> out = metrics_from_records([rec, {**rec, "correct": False, "sua": 0.3}], scores=["sua"])
    >>> out["accuracy"], out["robust_accuracy"], out["failure"]["sua"]["auroc"]
    (0.5, None, 1.0)
    """
    coverage = check_level(coverage, "coverage")
    table = ScoreTable.of(records)
    labelled = table.labelled()
    if not labelled.any():
        raise SUAInputError(f"none of the {len(table)} records has a gold label (correct is null); "
                            "metrics need labelled data")
    table = table.subset(labelled)
    ok = table.right("metrics")
    out: dict[str, Any] = {"n": len(table), "n_unlabelled": int((~labelled).sum()),
                           "accuracy": float(ok.mean()), "coverage": coverage, "n_bins": n_bins,
                           "robust_accuracy": _robust(table, ok)}
    conf, cal_ok, calibration = _calibration(table, ok, labels)
    out.update(calibration)
    out["ece"] = {st: calibration_error(conf, cal_ok, n_bins, st) for st in ("uniform", "quantile")}
    out["failure"] = {name: _failure(table, ok, name, coverage)
                      for name in (FAILURE_SCORES if scores is None else scores)}
    return out
