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


class TemperatureScaler:
    """``p(y|x) = softmax(z(x) / T)_y`` with one temperature ``T > 0`` fitted on held-out data.

    ``fit(logits, labels)`` minimises the mean negative log-likelihood
    ``NLL(T) = −(1/N) Σ_n log softmax(z_n / T)_{y_n}`` over ``t = log T`` with L-BFGS
    (strong-Wolfe line search, at most ``max_iter`` iterations), starting from ``T = 1``; should
    the optimiser end worse than ``T = 1`` the temperature stays 1, so the fitted NLL is never
    above the unscaled one. Dividing by ``T > 0`` keeps every argmax, hence the accuracy.
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
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)

        def nll() -> torch.Tensor:
            return torch.nn.functional.cross_entropy(z * torch.exp(-log_t), y)

        optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=self.max_iter,
                                      line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = nll()
            loss.backward()
            return loss

        with torch.no_grad():
            before = float(nll())
        optimizer.step(closure)
        with torch.no_grad():
            after = float(nll())
        if not after <= before:  # also catches NaN
            after, log_t = before, torch.zeros((), dtype=torch.float64)
        self.temperature_ = math.exp(float(log_t.detach()))
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
