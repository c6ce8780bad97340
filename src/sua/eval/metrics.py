"""Evaluation metrics: accuracy, robustness, calibration, failure prediction, selective prediction.

Every metric comes in the torchmetrics pattern: a private ``_<metric>_update`` step that
validates one batch and turns it into the arrays the metric needs, and a private
``_<metric>_compute`` step that turns the accumulated arrays into the value. The public
function runs update then compute on one batch; the stateful class (``update`` / ``compute``
/ ``reset``) runs update per batch and compute once on the concatenation, so both give the
same number for the same data.

Conventions, shared by every function here (``paper/SPEC.md``):

* numpy in, Python ``float`` (or float64 arrays) out; natural logarithms;
* a *failure score* is higher for inputs more likely to be wrong (SUA, sensitivity, entropy,
  1 - max probability); selective prediction keeps the lowest scores first, and ties are
  broken by input order (a stable sort), so results are deterministic;
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import ArrayLike

from sua.errors import SUAInputError
from sua.measures import check_probabilities, failure_auroc

__all__ = [
    "FAILURE_SCORES",
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
    "excess_aurc",
    "expected_calibration_error",
    "failure_auroc",
    "metrics_from_records",
    "negative_log_likelihood",
    "prediction_rejection_ratio",
    "risk_coverage_curve",
    "robust_accuracy",
    "selective_accuracy",
]

Strategy = Literal["uniform", "quantile"]

#: Failure scores read from a score record (higher = more likely wrong).
FAILURE_SCORES: dict[str, Callable[[Mapping[str, Any]], float]] = {
    "sua": lambda r: r["sua"],
    "sensitivity": lambda r: r["sensitivity"],
    "entropy": lambda r: r["entropy"],
    "1-max_prob": lambda r: 1.0 - r["max_prob"],
}

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


def _fraction(value: float, name: str) -> float:
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool) \
            or not 0.0 < float(value) <= 1.0:
        raise SUAInputError(f"{name} must be a number in (0, 1]; got {value!r}")
    return float(value)


def _count(fraction: float, n: int, rounding: Callable[[float], int]) -> int:
    """``rounding(fraction * n)``, after rounding the product to 9 decimals so that float
    noise (``0.7 * 10 = 7.000000000000001``) does not move the count."""
    return int(rounding(round(fraction * n, 9)))


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


def _kept_order(scores: np.ndarray) -> np.ndarray:
    """Keep order: lowest score first, ties in input order (stable sort)."""
    return np.argsort(scores, kind="stable")


def _risk_curve(scores: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Mean error of the k kept inputs, k = 1..N, keeping lowest scores first."""
    kept = errors[_kept_order(scores)].astype(np.float64)
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
    k = max(1, _count(coverage, len(scores), math.ceil))
    return float(correct[_kept_order(scores)[:k]].mean())


def selective_accuracy(scores: ArrayLike, correct: ArrayLike, coverage: float = 0.8) -> float:
    """Accuracy on the ``k = ⌈coverage · N⌉`` inputs with the lowest failure score.

    ``coverage`` is in ``(0, 1]``; ``k`` rounds up (at least 1, after rounding ``coverage · N``
    to 9 decimals so that float noise such as ``0.7 · 10 = 7.000000000000001`` gives 7, not 8);
    ties at the cut keep the earlier input (stable sort). Equals ``1 − risk_k``.

    >>> selective_accuracy(np.array([0.1, 0.9, 0.5, 0.3]), np.array([1, 0, 0, 1]), coverage=0.5)
    1.0
    """
    s, ok = _selective_update(scores, correct)
    return _selective_accuracy_compute(s, ok, _fraction(coverage, "coverage"))


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
    n_rej = _count(_fraction(max_rejection, "max_rejection"), n, math.floor)
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
        self.coverage = _fraction(coverage, "coverage")

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


# --------------------------------------------------------------------------- score records

def _field(record: Any, name: str, position: int) -> Any:
    if name not in record:
        raise SUAInputError(f"record {record.get('id', position)!r} has no field {name!r}; pass "
                            "score records written by `sua score`")
    return record[name]


def _perturbation_correct(pert: Mapping[str, Any], label: Any) -> bool:
    ok = pert.get("correct")
    return bool(pert.get("prediction") == label) if ok is None else bool(ok)


def metrics_from_records(records: Iterable[Any],
                         scores: Mapping[str, Callable[[Mapping[str, Any]], float]] | None = None,
                         coverage: float = 0.8, labels: Sequence[str] | None = None,
                         n_bins: int = 15) -> dict[str, Any]:
    """Every metric of the paper's tables from score records (``sua score`` output).

    ``records`` are ``ScoreRecord`` objects or their dicts; unlabelled ones (``correct`` null)
    are skipped and counted in ``n_unlabelled``. ``labels`` is the model's label list, the order
    of each record's ``probs`` (the run config's ``labels``). When it is given and every gold
    label is in it, ECE, Brier and NLL use the cached probabilities; otherwise (no list, or QA
    spans whose gold answer is not a class) calibration uses ``max_prob`` vs ``correct`` and
    ``brier`` / ``nll`` are None. A perturbation's correctness is its ``correct`` field, or
    ``prediction == label`` when it has none. ``scores`` maps a name to a function of a
    record returning a failure score (default :data:`FAILURE_SCORES`).

    Returns ``{"n", "n_unlabelled", "accuracy", "robust_accuracy": {"expected", "worst"} | None,
    "ece": {"uniform", "quantile"}, "calibration_from": "probs" | "max_prob", "brier", "nll",
    "failure": {name: {"auroc", "aurc", "selective_accuracy", "prr"}}, "coverage", "n_bins"}``.
    """
    coverage = _fraction(coverage, "coverage")
    rows = [r.to_dict() if hasattr(r, "to_dict") else r for r in records]
    if not rows:
        raise SUAInputError("no records: pass at least one score record")
    rows_labelled = [r for i, r in enumerate(rows) if _field(r, "correct", i) is not None]
    if not rows_labelled:
        raise SUAInputError(f"none of the {len(rows)} records has a gold label (correct is null); "
                            "metrics need labelled data")
    ok = np.array([bool(r["correct"]) for r in rows_labelled])
    out: dict[str, Any] = {"n": len(rows_labelled), "n_unlabelled": len(rows) - len(rows_labelled),
                           "accuracy": float(ok.mean()), "coverage": coverage, "n_bins": n_bins}

    perts = [_field(r, "perturbations", i) for i, r in enumerate(rows_labelled)]
    ks = {len(p) for p in perts}
    if ks == {0}:
        out["robust_accuracy"] = None
    elif len(ks) != 1:
        raise SUAInputError(f"robust accuracy needs the same number K of perturbations in every "
                            f"record; found K in {sorted(ks)}")
    else:
        cp = [[_perturbation_correct(p, r.get("label")) for p in ps] for r, ps in zip(rows_labelled, perts)]
        out["robust_accuracy"] = robust_accuracy(np.array(cp, dtype=bool), ok)

    index = {str(name): j for j, name in enumerate(labels)} if labels is not None else {}
    if labels is not None and all(str(r.get("label")) in index for r in rows_labelled):
        probs = np.array([_field(r, "probs", i) for i, r in enumerate(rows_labelled)], dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(index):
            raise SUAInputError(f"records' probs have shape {probs.shape} but labels has "
                                f"{len(index)} names ({list(labels)})")
        y = np.array([index[str(r["label"])] for r in rows_labelled])
        conf, cal_ok = _calibration_update(probs, y)
        out.update(calibration_from="probs", brier=brier_score(probs, y),
                   nll=negative_log_likelihood(probs, y))
    else:
        conf, cal_ok = _confidence_update([_field(r, "max_prob", i) for i, r in enumerate(rows_labelled)], ok)
        out.update(calibration_from="max_prob", brier=None, nll=None)
    out["ece"] = {st: _calibration_error_compute(conf, cal_ok, n_bins, st) for st in ("uniform", "quantile")}

    out["failure"] = {}
    for name, get in (FAILURE_SCORES if scores is None else scores).items():
        try:
            values = [get(r) for r in rows_labelled]
        except KeyError as err:
            raise SUAInputError(f"failure score {name!r} reads field {err} that a record lacks; "
                                "pass score records written by `sua score`") from None
        s = _floats(values, f"failure score {name!r}")
        out["failure"][name] = {
            "auroc": failure_auroc(s, ~ok),
            "aurc": aurc(s, ok),
            "selective_accuracy": selective_accuracy(s, ok, coverage),
            "prr": prediction_rejection_ratio(s, ~ok),
        }
    return out
