"""How well a per-input score ranks failures above successes."""

from __future__ import annotations

import numpy as np

from sua.errors import SUAInputError


def failure_auroc(scores: np.ndarray, failures: np.ndarray) -> float:
    """AUROC of ``scores`` for predicting failures (higher score = more likely wrong).

    AUROC = P(s_fail > s_ok) + ½·P(s_fail = s_ok), computed from average ranks
    (Mann–Whitney U / (n_fail · n_ok)); ties count one half. NaN when only one class is
    present, since the AUROC is then undefined.

    >>> failure_auroc(np.array([0.9, 0.1, 0.8]), np.array([True, False, False]))
    1.0
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(failures, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise SUAInputError(f"scores {s.shape} and failures {y.shape} must be 1-D of equal length")
    if not np.isfinite(s).all():
        raise SUAInputError("scores contain NaN or inf")
    n_fail = int(y.sum())
    n_ok = y.size - n_fail
    if n_fail == 0 or n_ok == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty_like(s)
    # average 1-based rank within each run of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    u = ranks[y].sum() - n_fail * (n_fail + 1) / 2.0
    return float(u / (n_fail * n_ok))
