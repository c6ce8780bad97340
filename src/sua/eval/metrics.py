"""Every metric of the paper's tables from score records (``sua score`` output).

The array metrics themselves are :mod:`sua.measures.metrics`; the failure scores are the
registry :data:`sua.measures.failure_scores.FAILURE_SCORES`. This module reads the records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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

__all__ = ["metrics_from_records"]


def _field(record: Any, name: str, position: int) -> Any:
    if name not in record:
        raise SUAInputError(f"record {record.get('id', position)!r} has no field {name!r}; pass "
                            "score records written by `sua score`")
    return record[name]


def _perturbation_correct(pert: Mapping[str, Any], label: Any) -> bool | None:
    """The rewrite's ``correct``, else ``prediction == label``; None when neither is known
    (generative rewrites carry samples, not a graded answer)."""
    ok = pert.get("correct")
    if ok is not None:
        return bool(ok)
    if pert.get("prediction") is None or label is None:
        return None
    return bool(pert["prediction"] == label)


def _robust(rows: Sequence[Mapping[str, Any]], ok: np.ndarray) -> dict[str, float] | None:
    """Robust accuracy, or None when there are no rewrites or a rewrite's correctness is unknown."""
    perts = [_field(r, "perturbations", i) for i, r in enumerate(rows)]
    ks = {len(p) for p in perts}
    if ks == {0}:
        return None
    if len(ks) != 1:
        raise SUAInputError(f"robust accuracy needs the same number K of perturbations in every "
                            f"record; found K in {sorted(ks)}")
    cp = [[_perturbation_correct(p, r.get("label")) for p in ps] for r, ps in zip(rows, perts, strict=True)]
    if any(c is None for row in cp for c in row):
        return None
    return robust_accuracy(np.array(cp, dtype=bool), ok)


def _calibration(rows: Sequence[Mapping[str, Any]], ok: np.ndarray,
                 labels: Sequence[str] | None) -> tuple[Any, Any, dict[str, Any]]:
    """Confidence and correctness to bin, and ``calibration_from`` / ``brier`` / ``nll``."""
    index = {str(name): j for j, name in enumerate(labels)} if labels is not None else {}
    if labels is None or not all(str(r.get("label")) in index for r in rows):
        conf = [_field(r, "max_prob", i) for i, r in enumerate(rows)]
        return conf, ok, {"calibration_from": "max_prob", "brier": None, "nll": None}
    probs = np.array([_field(r, "probs", i) for i, r in enumerate(rows)], dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(index):
        raise SUAInputError(f"records' probs have shape {probs.shape} but labels has "
                            f"{len(index)} names ({list(labels)})")
    y = np.array([index[str(r["label"])] for r in rows])
    brier = brier_score(probs, y)  # validates probs first
    return probs.max(axis=1), probs.argmax(axis=1) == y, {"calibration_from": "probs", "brier": brier,
                          "nll": negative_log_likelihood(probs, y)}


def _failure(rows: Sequence[Mapping[str, Any]], ok: np.ndarray, name: str,
             coverage: float) -> dict[str, float]:
    needed = FAILURE_SCORES[name].columns if name in FAILURE_SCORES else ()
    columns = {c: [_field(r, c, i) for i, r in enumerate(rows)] for c in needed}
    s = _floats(failure_score(name, columns), f"failure score {name!r}")
    return {"auroc": failure_auroc(s, ~ok), "aurc": aurc(s, ok),
            "selective_accuracy": selective_accuracy(s, ok, coverage),
            "prr": prediction_rejection_ratio(s, ~ok)}


def metrics_from_records(records: Iterable[Any], scores: Sequence[str] | None = None,
                         coverage: float = 0.8, labels: Sequence[str] | None = None,
                         n_bins: int = 15) -> dict[str, Any]:
    """Every metric of the paper's tables from score records (``sua score`` output).

    ``records`` are ``ScoreRecord`` objects or their dicts; unlabelled ones (``correct`` null)
    are skipped and counted in ``n_unlabelled``. ``labels`` is the model's label list, the order
    of each record's ``probs`` (the run config's ``labels``). When it is given and every gold
    label is in it, ECE, Brier and NLL use the cached probabilities; otherwise (no list, or QA
    spans whose gold answer is not a class) calibration uses ``max_prob`` vs ``correct`` and
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
    rows = [r.to_dict() if hasattr(r, "to_dict") else r for r in records]
    if not rows:
        raise SUAInputError("no records: pass at least one score record")
    rows_labelled = [r for i, r in enumerate(rows) if _field(r, "correct", i) is not None]
    if not rows_labelled:
        raise SUAInputError(f"none of the {len(rows)} records has a gold label (correct is null); "
                            "metrics need labelled data")
    ok = np.array([bool(r["correct"]) for r in rows_labelled])
    out: dict[str, Any] = {"n": len(rows_labelled), "n_unlabelled": len(rows) - len(rows_labelled),
                           "accuracy": float(ok.mean()), "coverage": coverage, "n_bins": n_bins,
                           "robust_accuracy": _robust(rows_labelled, ok)}
    conf, cal_ok, calibration = _calibration(rows_labelled, ok, labels)
    out.update(calibration)
    out["ece"] = {st: calibration_error(conf, cal_ok, n_bins, st) for st in ("uniform", "quantile")}
    out["failure"] = {name: _failure(rows_labelled, ok, name, coverage)
                      for name in (FAILURE_SCORES if scores is None else scores)}
    return out
