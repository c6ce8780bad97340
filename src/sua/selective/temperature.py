"""Temperature scaling (Guo et al., 2017) as a scikit-learn-style post-hoc calibrator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sua.errors import SUAInputError


def _logits_and_labels(logits: Any, labels: Any | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    if z.ndim != 2 or z.shape[1] < 2 or z.shape[0] == 0:
        raise SUAInputError(f"logits must have shape (N, C) with N >= 1 and C >= 2, got {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise SUAInputError("logits contain NaN or infinite values")
    if labels is None:
        return z, None
    y = np.asarray(labels)
    if y.shape != (z.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise SUAInputError(f"labels must be {z.shape[0]} integer class ids (one per logits row), "
                            f"got shape {y.shape} and dtype {y.dtype}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise SUAInputError(f"labels must lie in [0, {z.shape[1] - 1}], got {y.min()}..{y.max()}")
    return z, torch.as_tensor(y, dtype=torch.long)


def _label_ids(labels: Any, classes: Sequence[str] | None) -> np.ndarray:
    """Integer class ids from ``labels``: ids as given, or label names mapped through ``classes``
    (the name of each logits column, in column order)."""
    y = np.asarray(labels)
    if y.dtype.kind not in "OUS":
        return y
    if classes is None:
        raise SUAInputError("labels are names, so the scaler needs the name of each logits column: "
                            "TemperatureScaler(classes=[...]) in column order")
    index = {str(name): j for j, name in enumerate(classes)}
    unknown = sorted({str(v) for v in y.ravel()} - set(index))
    if unknown:
        raise SUAInputError(f"labels {unknown[:5]} are not among classes {list(index)}")
    return np.array([index[str(v)] for v in y.ravel()], dtype=np.int64).reshape(y.shape)


def _nll(z: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float, float]:
    """``NLL(β) = (1/N) Σ_n [logsumexp(β z_n) − β z_{n,y_n}]`` and its first two derivatives
    in ``β``: ``(1/N) Σ_n (E_{p_n}[z_n] − z_{n,y_n})`` and ``(1/N) Σ_n Var_{p_n}[z_n]`` with
    ``p_n = softmax(β z_n)``. Convex in ``β``, as a mean of log-sum-exps of linear functions."""
    scaled = beta * z
    top = scaled.max(axis=1, keepdims=True)
    e = np.exp(scaled - top)
    total = e.sum(axis=1, keepdims=True)
    p = e / total
    picked = z[np.arange(z.shape[0]), y]
    mean = (p * z).sum(axis=1)
    var = (p * (z - mean[:, None]) ** 2).sum(axis=1)
    nll = (np.log(total[:, 0]) + top[:, 0] - beta * picked).mean()
    return float(nll), float((mean - picked).mean()), float(var.mean())


#: The inverse temperatures the fit searches: T from 1/1000 to 1000.
_BETA_RANGE = (1e-3, 1e3)


def _newton_beta(z: np.ndarray, y: np.ndarray, max_iter: int) -> float:
    """The ``β = 1/T`` in :data:`_BETA_RANGE` minimising :func:`_nll`: the root of its
    increasing derivative, by Newton steps from ``β = 1`` kept inside a bisection bracket (a
    step leaving it bisects instead), at most ``max_iter`` of them, until a step moves ``β``
    by less than 1e-12 of itself. The derivative's sign at the range's ends decides a
    minimum outside it (the nearest end)."""
    lo, hi = _BETA_RANGE
    if _nll(z, y, lo)[1] >= 0:
        return lo
    if _nll(z, y, hi)[1] <= 0:
        return hi
    beta = 1.0
    for _ in range(max_iter):
        _, grad, curvature = _nll(z, y, beta)
        if grad > 0:
            hi = beta
        elif grad < 0:
            lo = beta
        else:
            return beta
        step = beta - grad / curvature if curvature > 0 else math.nan
        new = step if lo < step < hi else (lo + hi) / 2
        if abs(new - beta) <= 1e-12 * beta:
            return new
        beta = new
    return beta


class TemperatureScaler:
    """``p(y|x) = softmax(z(x) / T)_y`` with one temperature ``T > 0`` fitted on held-out data.

    ``fit(logits, labels)`` minimises the mean negative log-likelihood
    ``NLL(T) = −(1/N) Σ_n log softmax(z_n / T)_{y_n}``, convex in ``β = 1/T``, by safeguarded
    Newton steps on ``β`` from ``T = 1`` (at most ``max_iter``; :func:`_newton_beta`), over
    ``T`` in [1/1000, 1000]; should the fit end worse than ``T = 1`` the temperature stays 1,
    so the fitted NLL is never above the unscaled one. Dividing by ``T > 0`` keeps every
    argmax, hence the accuracy.
    After fitting: ``temperature_``, ``nll_before_`` (``T = 1``) and ``nll_after_``.
    ``transform(logits)`` returns the calibrated probabilities (N, C). Labels are integer class
    ids, or label names when ``classes`` names the logits columns in order. Picklable, with
    ``get_params``/``set_params`` like a scikit-learn estimator (``sklearn.base.clone`` works).

    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 500)
    >>> logits = 8.0 * np.eye(3)[labels] + rng.normal(0, 4, (500, 3))  # over-confident
    >>> scaler = TemperatureScaler().fit(logits, labels)
    >>> bool(scaler.temperature_ > 1 and scaler.nll_after_ < scaler.nll_before_)
    True
    """

    def __init__(self, max_iter: int = 100, classes: Sequence[str] | None = None) -> None:
        self.max_iter = max_iter
        self.classes = classes

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"max_iter": self.max_iter, "classes": self.classes}

    def set_params(self, **params: Any) -> TemperatureScaler:
        unknown = sorted(set(params) - set(self.get_params()))
        if unknown:
            raise SUAInputError(f"unknown parameter(s) {unknown} for TemperatureScaler; "
                                f"known: {sorted(self.get_params())}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"TemperatureScaler(max_iter={self.max_iter}, classes={self.classes!r})"

    def fit(self, logits: Any, labels: Any) -> TemperatureScaler:
        """Fit ``T`` on validation ``logits`` (N, C) and ``labels`` (N,): class ids, or names
        of ``classes``."""
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise SUAInputError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        z, y = _logits_and_labels(logits, _label_ids(labels, self.classes))
        z_np, y_np = z.numpy(), y.numpy()
        before = _nll(z_np, y_np, 1.0)[0]
        beta = _newton_beta(z_np, y_np, self.max_iter)
        after = _nll(z_np, y_np, beta)[0]
        if not after <= before:  # also catches NaN
            after, beta = before, 1.0
        self.temperature_ = 1.0 / beta
        self.nll_before_, self.nll_after_ = before, after
        return self

    def transform(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities ``softmax(logits / T)`` (N, C), float64."""
        if not hasattr(self, "temperature_"):
            raise SUAInputError("this TemperatureScaler is not fitted yet; call fit(logits, labels)")
        z, _ = _logits_and_labels(logits, None)
        return torch.softmax(z / self.temperature_, dim=-1).numpy()

    def fit_transform(self, logits: Any, labels: Any) -> np.ndarray:
        """``fit(logits, labels).transform(logits)``."""
        return self.fit(logits, labels).transform(logits)
