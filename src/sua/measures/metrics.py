"""Pure array metrics: accuracy, robustness, calibration, failure prediction, selective prediction.

They sit beside the measures so that every layer above (``selective``, ``eval``) uses one
definition of each.

Every metric comes in the torchmetrics pattern: a private ``_<metric>_update`` step that
validates one batch and turns it into the arrays the metric needs, and a private
``_<metric>_compute`` step that turns the accumulated arrays into the value. The public
function runs update then compute on one batch; the stateful class (``update`` / ``compute``
/ ``reset``) runs update per batch and compute once on the concatenation, so both give the
same number for the same data.

Conventions, shared by every function here (``paper/SPEC.md``):

* numpy in, Python ``float`` (or float64 arrays) out; natural logarithms;
* a *failure score* is higher for inputs more likely to be wrong (SUA, sensitivity, entropy,
  1 - max probability; :data:`sua.measures.failure_scores.FAILURE_SCORES`); selective
  prediction keeps the lowest scores first, and ties are broken by input order (a stable
  sort), so results are deterministic. The coverage cut is one rule, :func:`coverage_count`
  (``k = ⌈coverage · N⌉``), used by the metrics here, by :func:`coverage_threshold` (the
  threshold a policy applies) and by λ selection;
* calibration uses the top label: confidence ``max_c p_c`` and correctness
  ``argmax_c p_c = y`` (``np.argmax``: the first class wins ties); ``M = 15`` bins.

>>> import numpy as np
>>> probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
>>> labels = np.array([0, 0, 0])
>>> accuracy(probs, labels)
0.6666666666666666
>>> round(expected_calibration_error(probs, labels), 4)
0.3333
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike

from sua.errors import SUAInputError
from sua.measures.ranking import failure_auroc, row_counts
from sua.measures.validation import check_probabilities

__all__ = [
    "CalibrationBins",
    "CalibrationError",
    "FailureAUROC",
    "RobustAccuracy",
    "SelectiveAccuracy",
    "accuracy",
    "aurc",
    "brier_score",
    "calibration_bins",
    "calibration_error",
    "check_level",
    "coverage_count",
    "coverage_threshold",
    "excess_aurc",
    "expected_calibration_error",
    "failure_auroc",
    "kept_order",
    "negative_log_likelihood",
    "prediction_rejection_ratio",
    "risk_coverage_curve",
    "robust_accuracy",
    "selective_accuracy",
]

Strategy = Literal["uniform", "quantile"]

# Confidences this far outside [0, 1] are float noise (float32 softmax) and are clipped.
_CONF_ATOL = 1e-6


# --------------------------------------------------------------------------- input checks

def _nonempty_1d(x: np.ndarray, name: str) -> np.ndarray:
    if x.ndim != 1:
        raise SUAInputError(f"{name} must be 1-D (one value per input); got shape {x.shape}")
    if x.size == 0:
        raise SUAInputError(f"{name} is empty: pass at least one input")
    return x


def _same_length(n: int, **arrays: np.ndarray) -> None:
    for name, arr in arrays.items():
        if len(arr) != n:
            raise SUAInputError(f"{name} has {len(arr)} entries but there are {n} inputs; "
                                "pass one value per input")


def _floats(x: ArrayLike, name: str) -> np.ndarray:
    """A finite 1-D float64 array (scores, confidences, losses)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise SUAInputError(f"{name} must be numbers") from None
    _nonempty_1d(arr, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise SUAInputError(f"{name}[{i}] = {arr[i]}; values must be finite (no NaN or inf)")
    return arr


def _bools(x: ArrayLike, name: str, ndim: int = 1) -> np.ndarray:
    """A boolean array from bools or 0/1 numbers; NaN or any other value is an error."""
    arr = np.asarray(x)
    if arr.ndim != ndim:
        raise SUAInputError(f"{name} must be {ndim}-D; got shape {arr.shape}")
    if arr.size == 0:
        raise SUAInputError(f"{name} is empty: pass at least one input")
    if arr.dtype == bool:
        return arr
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise SUAInputError(f"{name} must hold booleans (or 0/1); got dtype {arr.dtype}") from None
    bad = (num != 0) & (num != 1)
    if bad.any():
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
        raise SUAInputError(f"{name}{list(idx)} = {num[idx]}; correctness must be True/False or 0/1")
    return num.astype(bool)


def _int_labels(x: ArrayLike, name: str, n_classes: int | None = None) -> np.ndarray:
    """Integer class indices, shape (N,), in ``[0, n_classes)`` when ``n_classes`` is given."""
    arr = np.asarray(x)
    _nonempty_1d(arr, name)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer)
                                 or np.issubdtype(arr.dtype, np.floating)):
        raise SUAInputError(f"{name} must be integer class indices; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.argmax(bad))
            raise SUAInputError(f"{name}[{i}] = {arr[i]} is not a class index (an integer)")
    ints = arr.astype(np.int64)
    if n_classes is not None:
        out = (ints < 0) | (ints >= n_classes)
        if out.any():
            i = int(np.argmax(out))
            raise SUAInputError(f"{name}[{i}] = {ints[i]} is out of range for {n_classes} classes "
                                f"(valid: 0..{n_classes - 1})")
    return ints


def _probs_and_labels(probs: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(N, C)`` float64 probabilities and ``(N,)`` labels in ``[0, C)``."""
    try:
        p = np.asarray(probs)
    except ValueError:
        raise SUAInputError("probs must be an (N, C) array; rows have different lengths") from None
    if p.ndim != 2:
        raise SUAInputError(f"probs must have shape (N, C); got {p.shape}")
    check_probabilities(p, "probs")
    p = p.astype(np.float64, copy=False)
    y = _int_labels(labels, "labels", n_classes=p.shape[1])
    _same_length(len(p), labels=y)
    return p, y


def check_level(value: float, name: str) -> float:
    """``value`` as a float in ``(0, 1]`` (a coverage, a risk, a rejection share), else a
    :class:`SUAInputError` naming ``name``.

    >>> check_level(0.8, "coverage")
    0.8
    """
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool) \
            or not 0.0 < float(value) <= 1.0:
        raise SUAInputError(f"{name} must be a number in (0, 1]; got {value!r}")
    return float(value)


def _count(fraction: float, n: int, rounding: Callable[[float], int]) -> int:
    """``rounding(fraction * n)``, after rounding the product to 9 decimals so that float
    noise (``0.7 * 10 = 7.000000000000001``) does not move the count."""
    return int(rounding(round(fraction * n, 9)))


# --------------------------------------------------------------------------- the coverage cut

def coverage_count(coverage: float, n: int) -> int:
    """How many of ``n`` inputs are kept at ``coverage``: ``k = max(1, ⌈coverage · n⌉)``.

    The one coverage cut of the package: the tables' selective accuracy, λ selection and the
    abstention policy's threshold all keep these ``k``. ``coverage · n`` is rounded to 9
    decimals first, so float noise such as ``0.7 · 10 = 7.000000000000001`` gives 7, not 8.

    >>> coverage_count(0.7, 10), coverage_count(0.01, 10)
    (7, 1)
    """
    return max(1, _count(check_level(coverage, "coverage"), n, math.ceil))


def kept_order(scores: np.ndarray) -> np.ndarray:
    """The order in which selective prediction keeps inputs: lowest failure score first, ties
    in input order (a stable sort), so every cut is deterministic.

    >>> kept_order(np.array([0.3, 0.1, 0.3, 0.2])).tolist()
    [1, 3, 0, 2]
    """
    return np.argsort(scores, kind="stable")


def coverage_threshold(scores: ArrayLike, coverage: float) -> float:
    """The threshold ``τ`` of the policy "answer when score ``<= τ``" for a target coverage.

    ``τ = s_(k)``, the score of the k-th kept input with ``k`` = :func:`coverage_count`: the
    smallest observed score whose empirical coverage ``c(τ) = P(score <= τ)`` reaches
    ``coverage``. A threshold cannot break ties, so inputs tied with ``s_(k)`` are covered too
    and the achieved coverage can exceed the target (the rank-based metrics keep exactly k).

    >>> coverage_threshold(np.array([0.4, 0.1, 0.3, 0.2, 0.5]), 0.6)
    0.3
    """
    s = np.sort(np.asarray(scores, dtype=np.float64))
    if s.size == 0:
        raise SUAInputError("no scores to choose a threshold from")
    return float(s[coverage_count(coverage, s.size) - 1])


# --------------------------------------------------------------------------- accuracy

def accuracy(probs_or_pred: ArrayLike, labels: ArrayLike) -> float:
    """Share of inputs whose prediction equals the label.

    ``acc = (1/N) Σ_i 1[ŷ_i = y_i]`` with ``ŷ_i = argmax_c p_ic`` when ``probs_or_pred`` is an
    ``(N, C)`` array of probabilities, or ``ŷ_i`` given directly as ``(N,)`` integer
    predictions.

    >>> accuracy(np.array([1, 0, 2]), np.array([1, 1, 2]))
    0.6666666666666666
    """
    arr = np.asarray(probs_or_pred)
    if arr.ndim == 2:
        p, y = _probs_and_labels(arr, labels)
        pred = p.argmax(axis=1)
    elif arr.ndim == 1:
        pred = _int_labels(arr, "predictions")
        y = _int_labels(labels, "labels")
        _same_length(len(pred), labels=y)
    else:
        raise SUAInputError(f"pass (N, C) probabilities or (N,) predictions; got shape {arr.shape}")
    return float(np.mean(pred == y))


# --------------------------------------------------------------------------- robust accuracy

def _robust_accuracy_update(correct_perturbed: ArrayLike,
                            correct_clean: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    cp = _bools(correct_perturbed, "correct_perturbed", ndim=2)
    if cp.shape[1] == 0:
        raise SUAInputError("correct_perturbed has K = 0 rewrites per input; need K >= 1")
    if correct_clean is None:
        cc = np.ones(len(cp), dtype=bool)  # "correct on clean AND all K" reduces to "all K"
    else:
        cc = _bools(correct_clean, "correct_clean")
        _same_length(len(cp), correct_clean=cc)
    return cp, cc


def _robust_accuracy_compute(cp: np.ndarray, cc: np.ndarray) -> dict[str, float]:
    return {"expected": float(cp.mean()), "worst": float(np.mean(cc & cp.all(axis=1)))}


def robust_accuracy(correct_perturbed: ArrayLike,
                    correct_clean: ArrayLike | None = None) -> dict[str, float]:
    """Accuracy under meaning-preserving rewrites ``x'_1..x'_K`` of each input.

    * ``expected`` = ``(1/(N·K)) Σ_i Σ_k 1[f(x'_ik) = y_i]``: accuracy on a random rewrite.
    * ``worst`` = ``(1/N) Σ_i 1[f(x_i) = y_i] · Π_k 1[f(x'_ik) = y_i]``: the share of inputs
      that survive every rewrite (worst-of-K), counting the clean input as one more rewrite;
      without ``correct_clean`` only the K rewrites count.

    ``correct_perturbed`` is ``(N, K)`` booleans (or 0/1), ``correct_clean`` ``(N,)``.

    >>> robust_accuracy(np.array([[1, 1], [1, 0]]), np.array([0, 1]))
    {'expected': 0.75, 'worst': 0.0}
    """
    return _robust_accuracy_compute(*_robust_accuracy_update(correct_perturbed, correct_clean))


# --------------------------------------------------------------------------- calibration

@dataclass(frozen=True)
class CalibrationBins:
    """Per-bin statistics of top-label confidence, the data of a reliability diagram.

    Arrays of length ``n_bins + 1``: entries ``0..n_bins-1`` are the half-open bins
    ``[lower, upper)``; the last entry is the point ``{1.0}``, where a confidence of exactly 1
    goes (torchmetrics' rule, see :func:`calibration_bins`); it is usually empty. Empty bins
    have ``count = 0`` and NaN ``confidence`` / ``accuracy``.
    """

    lower: np.ndarray
    upper: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def n(self) -> int:
        """Number of inputs binned."""
        return int(self.count.sum())

    def calibration_error(self) -> float:
        """``ECE = Σ_b (|B_b|/N) · |acc(B_b) − conf(B_b)|`` over the non-empty bins."""
        full = self.count > 0
        gap = np.abs(self.accuracy[full] - self.confidence[full])
        return float(np.sum(self.count[full] / self.n * gap))


def _bin_edges(confidence: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin edges, in the dtype the confidences are compared in (float32 for "uniform")."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise SUAInputError(f"n_bins must be a positive integer; got {n_bins!r}")
    if strategy == "uniform":
        # torchmetrics' own edges: torch.linspace (which rounds differently from np.linspace
        # in the last bit) in float32, the dtype multiclass_calibration_error compares in.
        return torch.linspace(0.0, 1.0, int(n_bins) + 1, dtype=torch.float32).numpy()
    if strategy == "quantile":
        edges = np.quantile(confidence, np.linspace(0.0, 1.0, int(n_bins) + 1))
        edges[0], edges[-1] = 0.0, 1.0  # netcal's equal-mass edges
        return np.maximum.accumulate(edges)
    raise SUAInputError(f"strategy must be 'uniform' (equal width) or 'quantile' (equal mass); "
                        f"got {strategy!r}")


def _confidence_update(confidence: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    conf = _floats(confidence, "confidence")
    out = (conf < -_CONF_ATOL) | (conf > 1.0 + _CONF_ATOL)
    if out.any():
        i = int(np.argmax(out))
        raise SUAInputError(f"confidence[{i}] = {conf[i]} is not in [0, 1]; pass probabilities")
    ok = _bools(correct, "correct")
    _same_length(len(conf), correct=ok)
    return np.clip(conf, 0.0, 1.0), ok


def _calibration_update(probs: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence ``max_c p_ic`` and correctness ``argmax_c p_ic = y_i``."""
    p, y = _probs_and_labels(probs, labels)
    return np.clip(p.max(axis=1), 0.0, 1.0), p.argmax(axis=1) == y


def _calibration_bins_compute(conf: np.ndarray, correct: np.ndarray, n_bins: int,
                              strategy: str) -> CalibrationBins:
    edges = _bin_edges(conf, n_bins, strategy)
    # bin b holds edges[b] <= c < edges[b+1]; c == 1.0 lands in index n_bins, a bin of its own
    # (torch.bucketize(c, edges, right=True) - 1, as torchmetrics does). The comparison is made
    # in the edges' dtype; the per-bin statistics in float64.
    idx = np.searchsorted(edges, conf.astype(edges.dtype), side="right") - 1
    edges, size = edges.astype(np.float64), len(edges)
    count = np.bincount(idx, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=size) / count
        acc = np.bincount(idx, weights=correct.astype(np.float64), minlength=size) / count
    return CalibrationBins(lower=edges.copy(), upper=np.r_[edges[1:], 1.0], confidence=mean_conf,
                          accuracy=acc, count=count)


def calibration_bins(confidence: ArrayLike, correct: ArrayLike, n_bins: int = 15,
                     strategy: Strategy = "uniform") -> CalibrationBins:
    """Bin inputs by confidence and report, per bin, its edges, mean confidence, accuracy, size.

    Boundary rule (torchmetrics' ``torch.bucketize(c, edges, right=True) - 1``): bin ``b`` is
    the left-closed, right-open interval ``[e_b, e_{b+1})``, and a confidence of exactly 1 goes
    to an extra point bin ``{1}``.

    * ``strategy="uniform"``: equal-width bins, edges ``torch.linspace(0, 1, M + 1)`` in float32,
      and each confidence rounded to float32 before it is compared with them: exactly what
      ``torchmetrics``' ``multiclass_calibration_error(norm="l1")`` does, so every input lands
      in the same bin there and here (the per-bin means are then taken in float64, so the ECE
      values agree to about 1e-7, torchmetrics accumulating in float32).
    * ``strategy="quantile"``: equal-mass bins, edges at the ``b/M`` quantiles of
      ``confidence`` (``np.quantile``, first and last edge set to 0 and 1, as netcal's
      ``equal_intervals=False``), compared in float64. Tied confidences stay in one bin, so
      bins can be unequal or empty.

    >>> b = calibration_bins(np.array([0.2, 0.9, 0.95]), np.array([0, 1, 0]), n_bins=2)
    >>> b.count.tolist(), b.accuracy.tolist()[:2]
    ([1, 2, 0], [0.0, 0.5])
    """
    conf, ok = _confidence_update(confidence, correct)
    return _calibration_bins_compute(conf, ok, n_bins, strategy)


def _calibration_error_compute(conf: np.ndarray, correct: np.ndarray, n_bins: int,
                               strategy: str) -> float:
    return _calibration_bins_compute(conf, correct, n_bins, strategy).calibration_error()


def calibration_error(confidence: ArrayLike, correct: ArrayLike, n_bins: int = 15,
                      strategy: Strategy = "uniform") -> float:
    """ECE from top-label confidence and correctness (no class probabilities needed).

    ``ECE = Σ_b (|B_b|/N) · |acc(B_b) − conf(B_b)|`` with the bins of
    :func:`calibration_bins`. Use it where only ``max_prob`` and ``correct`` exist (QA spans,
    generated answers); :func:`expected_calibration_error` is this on ``(max p, argmax = y)``.

    >>> calibration_error(np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 0, 1, 1]), n_bins=15)
    0.4
    """
    return _calibration_error_compute(*_confidence_update(confidence, correct), n_bins, strategy)


def calibration_error_rows(confidence: ArrayLike, correct: ArrayLike, idx: np.ndarray,
                           n_bins: int = 15) -> np.ndarray:
    """:func:`calibration_error` (uniform bins) of ``(confidence[idx_r], correct[idx_r])`` for
    each row ``idx_r`` of an ``(R, n)`` index array (bootstrap resamples), in one pass: each
    input keeps its bin, and ``(|B_b|/n)·|acc(B_b) − conf(B_b)| = |Σ_{i∈B_b} (1[correct_i] − c_i)| / n``.

    >>> calibration_error_rows(np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 0, 1, 1]),
    ...                        np.array([[0, 1, 2, 3], [2, 2, 3, 3]])).round(6).tolist()
    [0.4, 0.4]
    """
    conf, ok = _confidence_update(confidence, correct)
    rows = np.asarray(idx)
    if rows.ndim != 2:
        raise SUAInputError(f"idx must be a 2-D (resamples, items) index array; got shape {rows.shape}")
    edges = _bin_edges(conf, n_bins, "uniform")
    size = len(edges)
    bins = np.searchsorted(edges, conf.astype(edges.dtype), side="right") - 1
    gap = row_counts(bins[rows], size, (ok - conf)[rows])
    return np.abs(gap).sum(axis=1) / rows.shape[1]


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15,
                               strategy: Strategy = "uniform") -> float:
    """Top-label expected calibration error (Guo et al. 2017), ``M = n_bins`` bins.

    ``ECE = Σ_b (|B_b|/N) · |acc(B_b) − conf(B_b)|`` where ``B_b`` are the inputs whose
    confidence ``max_c p_ic`` falls in bin ``b``, ``acc(B_b)`` the share of them with
    ``argmax_c p_ic = y_i`` and ``conf(B_b)`` their mean confidence. ``"uniform"`` equal-width
    bins reproduce ``torchmetrics.functional.classification.multiclass_calibration_error(
    probs, labels, num_classes=C, n_bins=M, norm="l1")`` (same edges, same boundary rule, same
    bin for every input; values agree to ~1e-7 as torchmetrics sums in float32; see
    :func:`calibration_bins`); ``"quantile"`` uses equal-mass bins.

    >>> expected_calibration_error(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]))
    0.44999999999999996
    """
    return _calibration_error_compute(*_calibration_update(probs, labels), n_bins, strategy)


def brier_score(probs: ArrayLike, labels: ArrayLike) -> float:
    """Multi-class Brier score, sum-over-classes convention.

    ``BS = (1/N) Σ_i Σ_c (p_ic − 1[y_i = c])²``, in ``[0, 2]``. This is sklearn's multi-class
    ``brier_score_loss``; sklearn's binary ``brier_score_loss(y, p_1)`` is the 2-class case
    divided by 2 (it scores only the positive class).

    >>> brier_score(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]))
    0.5299999999999999
    """
    p, y = _probs_and_labels(probs, labels)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def negative_log_likelihood(probs: ArrayLike, labels: ArrayLike, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of the labels, in nats.

    ``NLL = −(1/N) Σ_i log max(p_{i, y_i}, eps)``; ``eps`` keeps a zero probability finite.

    >>> round(negative_log_likelihood(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([0, 0])), 4)
    0.3993
    """
    if not 0.0 < float(eps) < 1.0:
        raise SUAInputError(f"eps must be in (0, 1); got {eps!r}")
    p, y = _probs_and_labels(probs, labels)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], eps, 1.0))))


# --------------------------------------------------------------------------- selective prediction

def _selective_update(scores: ArrayLike, correct: ArrayLike,
                      name: str = "correct") -> tuple[np.ndarray, np.ndarray]:
    s = _floats(scores, "scores")
    ok = _bools(correct, name)
    _same_length(len(s), **{name: ok})
    return s, ok


def _risk_curve(scores: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Mean error of the k kept inputs, k = 1..N, keeping lowest scores first."""
    kept = errors[kept_order(scores)].astype(np.float64)
    return np.cumsum(kept) / np.arange(1, len(kept) + 1)


def risk_coverage_curve(scores: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Risk–coverage curve of selective prediction that abstains on high failure scores.

    Inputs are sorted by ``scores`` ascending (stable: tied inputs keep their input order);
    for ``k = 1..N`` the ``k`` lowest-scored inputs are kept, ``coverage_k = k/N`` and
    ``risk_k = (1/k) Σ_{j ≤ k} 1[input j is wrong]``. Returns ``(coverage, risk)``, each ``(N,)``.

    >>> risk_coverage_curve(np.array([0.1, 0.9, 0.5]), np.array([1, 0, 1]))
    (array([0.33333333, 0.66666667, 1.        ]), array([0.        , 0.        , 0.33333333]))
    """
    s, ok = _selective_update(scores, correct)
    return np.arange(1, len(s) + 1) / len(s), _risk_curve(s, ~ok)


def aurc(scores: ArrayLike, correct: ArrayLike) -> float:
    """Area under the risk–coverage curve (Geifman et al. 2019, discrete form); lower is better.

    ``AURC = (1/N) Σ_{k=1..N} risk_k`` with ``risk_k`` from :func:`risk_coverage_curve`.

    >>> aurc(np.array([0.1, 0.9, 0.5]), np.array([1, 0, 1]))
    0.1111111111111111
    """
    s, ok = _selective_update(scores, correct)
    return float(_risk_curve(s, ~ok).mean())


def excess_aurc(scores: ArrayLike, correct: ArrayLike) -> float:
    """AURC above the best possible ranking: ``E-AURC = AURC(s) − AURC(oracle)``.

    The oracle keeps every correct input before any wrong one; its AURC is computed exactly
    on the same N inputs (not the continuous approximation ``r + (1−r) ln(1−r)``). ``≥ 0``.

    >>> excess_aurc(np.array([0.9, 0.1]), np.array([1, 0]))
    0.5
    """
    s, ok = _selective_update(scores, correct)
    wrong = ~ok
    return float(_risk_curve(s, wrong).mean() - _risk_curve(wrong.astype(np.float64), wrong).mean())


def _selective_accuracy_compute(scores: np.ndarray, correct: np.ndarray, coverage: float) -> float:
    return float(correct[kept_order(scores)[:coverage_count(coverage, len(scores))]].mean())


def selective_accuracy(scores: ArrayLike, correct: ArrayLike, coverage: float = 0.8) -> float:
    """Accuracy on the ``k = ⌈coverage · N⌉`` inputs with the lowest failure score.

    ``coverage`` is in ``(0, 1]``; ``k`` is :func:`coverage_count` (at least 1, robust to
    float noise); ties at the cut keep the earlier input (:func:`kept_order`). Equals
    ``1 − risk_k``.

    >>> selective_accuracy(np.array([0.1, 0.9, 0.5, 0.3]), np.array([1, 0, 0, 1]), coverage=0.5)
    1.0
    """
    s, ok = _selective_update(scores, correct)
    return _selective_accuracy_compute(s, ok, check_level(coverage, "coverage"))


def selective_accuracy_rows(scores: ArrayLike, correct: ArrayLike, idx: np.ndarray,
                            coverage: float = 0.8) -> np.ndarray:
    """:func:`selective_accuracy` of ``(scores[idx_r], correct[idx_r])`` for each row ``idx_r``
    of an ``(R, n)`` index array (bootstrap resamples), with the same cut: the ``k`` inputs of
    the row with the lowest score, ties in row order. Each row's inputs are keyed by
    ``rank(score) · n + position``, unique per row, so the k-th smallest key (a partition, no
    sort) splits kept from abstained exactly as the stable sort does.

    >>> selective_accuracy_rows(np.array([0.1, 0.9, 0.5, 0.3]), np.array([1, 0, 0, 1]),
    ...                         np.array([[0, 1, 2, 3], [2, 2, 1, 1]]), coverage=0.5).tolist()
    [1.0, 0.0]
    """
    s, ok = _selective_update(scores, correct)
    rows = np.asarray(idx)
    if rows.ndim != 2:
        raise SUAInputError(f"idx must be a 2-D (resamples, items) index array; got shape {rows.shape}")
    n = rows.shape[1]
    k = coverage_count(coverage, n)
    score_rank = np.unique(s, return_inverse=True)[1].reshape(-1).astype(np.int64)
    keys = score_rank[rows] * n + np.arange(n)
    kth = np.partition(keys, k - 1, axis=1)[:, k - 1:k]
    return (ok[rows] & (keys <= kth)).sum(axis=1) / k


def prediction_rejection_ratio(scores: ArrayLike, errors: ArrayLike,
                               max_rejection: float = 1.0) -> float:
    """Prediction rejection ratio (PRR), as LM-Polygraph's normalised ``PredictionRejectionArea``.

    Reject inputs in order of decreasing ``scores`` (higher = more uncertain) and track the mean
    ``errors`` (0/1 errors, or any per-input loss: higher is worse) of the inputs kept. With
    ``R = ⌊max_rejection · N⌋`` the area is the mean of that curve over the kept-set sizes
    ``k = N−R+1..N``, i.e. rejection rates ``0..(R−1)/N``::

        A(order) = (1/R) Σ_{k=N−R+1..N} (1/k) Σ_{j ≤ k} e_{order(j)}
        PRR = (A_random − A_scores) / (A_random − A_oracle)

    ``A_oracle`` keeps the lowest errors first; ``A_random`` is the expected area of a random
    order, which is exactly ``mean(e)`` (LM-Polygraph estimates the same quantity by averaging
    1000 shuffles). This is LM-Polygraph's ``(A_ue − A_rand) / (A_oracle − A_rand)`` on the
    quality ``−e`` (PRR is unchanged by its min–max normalisation of the target). 1 = oracle
    ranking, 0 = random, negative = worse than random. NaN when it is undefined: all errors
    equal, or ``R < 2`` (a single kept-set size; LM-Polygraph then returns the raw area).
    Ties in ``scores`` are broken by input order (stable sort; LM-Polygraph's default sort is
    unstable). ``R`` rounds down, after rounding ``max_rejection · N`` to 9 decimals.

    >>> prediction_rejection_ratio(np.array([0.2, 0.1, 0.9, 0.4]), np.array([0, 0, 1, 0]))
    1.0
    """
    s = _floats(scores, "scores")
    e = _floats(errors, "errors")
    _same_length(len(s), errors=e)
    n = len(s)
    n_rej = _count(check_level(max_rejection, "max_rejection"), n, math.floor)
    if n_rej < 2 or np.ptp(e) == 0:
        return float("nan")

    def area(order_scores: np.ndarray) -> float:
        return float(_risk_curve(order_scores, e)[n - n_rej:].mean())

    a_random = float(e.mean())
    return (a_random - area(s)) / (a_random - area(e))


# --------------------------------------------------------------------------- stateful forms

class _Accumulator:
    """Stores the arrays each ``update`` returns; ``compute`` concatenates them."""

    def __init__(self) -> None:
        self._batches: list[tuple[np.ndarray, ...]] = []

    def reset(self) -> None:
        """Forget every batch seen so far."""
        self._batches = []

    def _state(self) -> tuple[np.ndarray, ...]:
        if not self._batches:
            raise SUAInputError(f"{type(self).__name__}.compute() called before any update()")
        try:
            return tuple(np.concatenate(part) for part in zip(*self._batches, strict=True))
        except ValueError as err:
            raise SUAInputError(f"{type(self).__name__}: batches do not fit together ({err})") from None


class CalibrationError(_Accumulator):
    """Stateful top-label ECE (see :func:`expected_calibration_error`).

    >>> m = CalibrationError(n_bins=15)
    >>> m.update(np.array([[0.8, 0.2]]), np.array([0])); m.update(np.array([[0.3, 0.7]]), np.array([0]))
    >>> m.compute() == expected_calibration_error(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 0]))
    True
    """

    def __init__(self, n_bins: int = 15, strategy: Strategy = "uniform") -> None:
        super().__init__()
        _bin_edges(np.zeros(1), n_bins, strategy)  # fail at construction on bad settings
        self.n_bins, self.strategy = n_bins, strategy

    def update(self, probs: ArrayLike, labels: ArrayLike) -> None:
        """Add a batch of ``(N, C)`` probabilities and ``(N,)`` labels."""
        self._batches.append(_calibration_update(probs, labels))

    def update_confidence(self, confidence: ArrayLike, correct: ArrayLike) -> None:
        """Add a batch of top-label confidences and correctness (see :func:`calibration_error`)."""
        self._batches.append(_confidence_update(confidence, correct))

    def bins(self) -> CalibrationBins:
        """Reliability-diagram bins of everything seen (see :func:`calibration_bins`)."""
        return _calibration_bins_compute(*self._state(), self.n_bins, self.strategy)

    def compute(self) -> float:
        return _calibration_error_compute(*self._state(), self.n_bins, self.strategy)


class SelectiveAccuracy(_Accumulator):
    """Stateful :func:`selective_accuracy` at a fixed ``coverage``."""

    def __init__(self, coverage: float = 0.8) -> None:
        super().__init__()
        self.coverage = check_level(coverage, "coverage")

    def update(self, scores: ArrayLike, correct: ArrayLike) -> None:
        """Add a batch of failure scores and correctness."""
        self._batches.append(_selective_update(scores, correct))

    def compute(self) -> float:
        return _selective_accuracy_compute(*self._state(), self.coverage)


class RobustAccuracy(_Accumulator):
    """Stateful :func:`robust_accuracy`; every batch must have the same K, and either every
    batch or none passes ``correct_clean``."""

    def __init__(self) -> None:
        super().__init__()
        self._with_clean: bool | None = None

    def reset(self) -> None:
        super().reset()
        self._with_clean = None

    def update(self, correct_perturbed: ArrayLike, correct_clean: ArrayLike | None = None) -> None:
        """Add a batch: ``(N, K)`` correctness on the rewrites, optional ``(N,)`` on the clean inputs."""
        with_clean = correct_clean is not None
        if self._with_clean is not None and with_clean != self._with_clean:
            raise SUAInputError("RobustAccuracy: pass correct_clean in every update or in none")
        batch = _robust_accuracy_update(correct_perturbed, correct_clean)
        self._with_clean = with_clean
        self._batches.append(batch)

    def compute(self) -> dict[str, float]:
        return _robust_accuracy_compute(*self._state())


class FailureAUROC(_Accumulator):
    """Stateful :func:`failure_auroc` for any failure score (higher = more likely wrong)."""

    def update(self, scores: ArrayLike, wrong: ArrayLike) -> None:
        """Add a batch of scores and failure indicators (True = the prediction was wrong)."""
        self._batches.append(_selective_update(scores, wrong, name="wrong"))

    def compute(self) -> float:
        scores, wrong = self._state()
        return failure_auroc(scores, wrong)
