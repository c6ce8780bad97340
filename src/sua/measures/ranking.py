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
    return failure_auroc_ranked(TiedRanks.of(s).average_ranks(), y)


def failure_auroc_ranked(ranks: np.ndarray, failures: np.ndarray) -> float:
    """:func:`failure_auroc` from the scores' 1-based average ranks among themselves:
    AUROC = (Σ_{failures} rank − n_fail·(n_fail + 1)/2) / (n_fail · n_ok); NaN with one class.

    >>> failure_auroc_ranked(np.array([3.0, 1.0, 2.0]), np.array([True, False, False]))
    1.0
    """
    y = np.asarray(failures, dtype=bool)
    n_fail = int(y.sum())
    n_ok = y.size - n_fail
    if n_fail == 0 or n_ok == 0:
        return float("nan")
    u = ranks[y].sum() - n_fail * (n_fail + 1) / 2.0
    return float(u / (n_fail * n_ok))


def row_counts(codes: np.ndarray, n_codes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``(R, n_codes)``: how often each code in ``0..n_codes-1`` occurs in each row of the
    ``(R, n)`` integer array ``codes`` (with ``weights`` of the same shape: their sum per code),
    one ``bincount`` for all rows.

    >>> row_counts(np.array([[0, 2, 2], [1, 1, 1]]), 3).tolist()
    [[1, 0, 2], [0, 3, 0]]
    """
    r = codes.shape[0]
    flat = (codes + np.arange(r)[:, None] * n_codes).ravel()
    return np.bincount(flat, weights=None if weights is None else weights.ravel(),
                       minlength=r * n_codes).reshape(r, n_codes)


#: :func:`item_counts` of the read-only index arrays seen last, by id (each kept beside its counts).
_ITEM_COUNTS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def item_counts(idx: np.ndarray, n_items: int) -> np.ndarray:
    """``(R, n_items)``: how often each item ``0..n_items-1`` occurs in each row of the ``(R, n)``
    index array ``idx`` (int16, or int32 for rows of 2^15 items or more). Computed once for a
    read-only ``idx`` (the shared, cached bootstrap resamples every statistic of the same items
    is drawn on) and reused by each later call with that same array.

    >>> item_counts(np.array([[0, 2, 2], [1, 1, 1]]), 3).tolist()
    [[1, 0, 2], [0, 3, 0]]
    """
    rows = np.asarray(idx)
    key = (id(rows), n_items)
    hit = _ITEM_COUNTS.get(key)
    if hit is not None and hit[0] is rows:
        return hit[1]
    if rows.ndim != 2:
        raise SUAInputError(f"idx must be a 2-D (resamples, items) index array; got shape {rows.shape}")
    if rows.size and (rows.min() < 0 or rows.max() >= n_items):
        raise SUAInputError(f"idx holds item indices outside [0, {n_items})")
    dtype = np.int16 if rows.shape[1] < 2**15 else np.int32
    counts = row_counts(rows, n_items).astype(dtype)
    if not rows.flags.writeable:
        if len(_ITEM_COUNTS) >= 8:
            _ITEM_COUNTS.clear()
        _ITEM_COUNTS[key] = (rows, counts)  # the array is kept, so its id is not reused
    return counts


def failure_auroc_rows(scores: TiedRanks, failures: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """:func:`failure_auroc` of ``scores[idx_r]`` against ``failures[idx_r]`` for each row of an
    ``(R, n)`` index array (bootstrap resamples), NaN rows with one class. With ``m_ri`` the
    times item ``i`` occurs in row ``r`` (:func:`item_counts`), ``c_d = Σ_{i at d} m_ri`` the
    items at distinct value ``d``, ``w_d`` the failures among them and ``C_d = Σ_{d' ≤ d} c_d'``,
    the rank sum of the failures is ``Σ_d w_d · (C_d − c_d + (c_d + 1)/2)``, so
    ``2U = Σ_d w_d · (2 C_d − c_d + 1) − n_fail · (n_fail + 1)``: counts only, no per-item ranks,
    and whole numbers (exact in float64), equal to the 1-D ones.

    >>> failure_auroc_rows(TiedRanks.of(np.array([0.9, 0.1, 0.5])), np.array([True, False, False]),
    ...                    np.array([[0, 1, 2], [1, 2, 2]])).tolist()
    [1.0, nan]
    """
    rows = np.asarray(idx)
    order, starts = scores.groups()
    m = item_counts(rows, scores.codes.size)[:, order]
    fail = np.asarray(failures, dtype=bool)[order]
    if starts.size == order.size:  # no ties: one item per distinct value
        counts = m.astype(np.float64)
        fails = counts * fail
    else:
        counts = np.add.reduceat(m, starts, axis=1, dtype=np.float64)
        fails = np.add.reduceat(m * fail, starts, axis=1, dtype=np.float64)
    weight = np.cumsum(counts, axis=1)
    weight *= 2
    weight -= counts - 1
    n_fail = fails.sum(axis=1)
    n_ok = rows.shape[1] - n_fail
    u2 = (fails * weight).sum(axis=1) - n_fail * (n_fail + 1)
    pairs = n_fail * n_ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, u2 / (2 * pairs), np.nan)


class TiedRanks:
    """Values coded by their place among the distinct values, so that the average ranks of any
    resample ``values[idx]`` come from counting (no sort per resample): a value with ``b`` smaller
    and ``c`` equal values in the resample has rank ``b + (c + 1)/2`` (ties share their mean rank).

    >>> TiedRanks.of(np.array([0.5, 0.1, 0.5, 0.9])).average_ranks()
    array([2.5, 1. , 2.5, 4. ])
    >>> TiedRanks.of(np.array([0.5, 0.1, 0.9])).average_ranks(np.array([2, 0, 0]))
    array([3. , 1.5, 1.5])
    """

    def __init__(self, codes: np.ndarray, n_distinct: int) -> None:
        self.codes, self.n_distinct = codes, n_distinct
        self._groups: tuple[np.ndarray, np.ndarray] | None = None

    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        """``(order, starts)``: the items ordered by value (stably) and where each distinct
        value's run begins in that order (computed once).

        >>> [a.tolist() for a in TiedRanks.of(np.array([0.5, 0.1, 0.5])).groups()]
        [[1, 0, 2], [0, 1]]
        """
        if self._groups is None:
            order = np.argsort(self.codes, kind="stable")
            sorted_codes = self.codes[order]
            starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
            self._groups = order, starts
        return self._groups

    @classmethod
    def of(cls, values: np.ndarray) -> TiedRanks:
        distinct, codes = np.unique(np.asarray(values, dtype=np.float64), return_inverse=True)
        return cls(codes.reshape(-1), distinct.size)

    def average_ranks(self, idx: np.ndarray | None = None) -> np.ndarray:
        """The 1-based average ranks of ``values[idx]`` (all values when ``idx`` is None); for a
        2-D ``idx`` of ``(R, n)`` resamples, the ranks within each row.

        >>> TiedRanks.of(np.array([0.5, 0.1, 0.9])).average_ranks(np.array([[2, 0, 0], [1, 1, 2]]))
        array([[3. , 1.5, 1.5],
               [1.5, 1.5, 3. ]])
        """
        codes = self.codes if idx is None else self.codes[idx]
        rows = np.atleast_2d(codes)
        counts = row_counts(rows, self.n_distinct)
        below = np.cumsum(counts, axis=1) - counts
        ranks = np.take_along_axis(below + (counts + 1) / 2.0, rows, axis=1)
        return ranks.reshape(codes.shape)


def spearman_ranked(x: TiedRanks, y: TiedRanks, idx: np.ndarray) -> float:
    """Spearman's ρ of ``x[idx]`` and ``y[idx]``: the Pearson correlation of their average ranks
    (as ``scipy.stats.spearmanr``); NaN when either side is constant on ``idx``.

    >>> spearman_ranked(TiedRanks.of(np.array([1., 2, 3])), TiedRanks.of(np.array([3., 1, 2])), np.arange(3))
    -0.5
    """
    rx, ry = x.average_ranks(idx), y.average_ranks(idx)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / denominator) if denominator > 0 else float("nan")


def spearman_rows(x: TiedRanks, y: TiedRanks, idx: np.ndarray) -> np.ndarray:
    """:func:`spearman_ranked` of each row of an ``(R, n)`` index array (NaN rows where either
    side is constant).

    >>> x, y = TiedRanks.of(np.array([1., 2, 3])), TiedRanks.of(np.array([3., 1, 2]))
    >>> spearman_rows(x, y, np.array([[0, 1, 2], [0, 0, 0]])).tolist()
    [-0.5, nan]
    """
    rx, ry = x.average_ranks(idx), y.average_ranks(idx)
    dx = rx - rx.mean(axis=1, keepdims=True)
    dy = ry - ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (dx * dy).sum(axis=1) / denominator, np.nan)
