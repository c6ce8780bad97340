"""Predictive entropy (eq. 5) and the entropy of a reference label distribution (eq. 6)."""

from __future__ import annotations

import torch

from sua.measures._tensor import ArrayLike, probabilities, restore, xlogy


def entropy_t(p: torch.Tensor) -> torch.Tensor:
    """Tensor kernel of :func:`entropy` (no validation): ``-sum p log p`` over the last axis."""
    return 0.0 - xlogy(p, p).sum(dim=-1)  # 0.0 - x, not -x: no "-0." for one-hot rows


def _validated_entropy(p: ArrayLike, name: str) -> ArrayLike:
    (t,), torch_out = probabilities({name: p})
    return restore(entropy_t(t), torch_out)


def entropy(p: ArrayLike) -> ArrayLike:
    """Predictive entropy (eq. 5), in nats, over the last axis.

    ``H(p) = -sum_y p_y log p_y``, with ``0 log 0 = 0`` exactly (no NaN, and a zero gradient
    at exactly-zero entries). Shape ``(..., C)`` -> ``(...)``; numpy in, float64 numpy out;
    torch in, torch out (same dtype and device, differentiable).

    >>> import numpy as np
    >>> entropy(np.array([[0.5, 0.5], [1.0, 0.0]]))
    array([0.69314718, 0.        ])
    """
    return _validated_entropy(p, "p")


def true_entropy(label_dist: ArrayLike) -> ArrayLike:
    """True uncertainty ``H*(x) = H(Y | X=x)`` (eq. 6) from a reference label distribution.

    ``label_dist`` is the data's label distribution for each input, e.g. normalised annotator
    votes, shape ``(..., C)``; the result is its entropy in nats, as :func:`entropy`.

    >>> import numpy as np
    >>> true_entropy(np.array([[0.25, 0.25, 0.25, 0.25]])).round(4)
    array([1.3863])
    """
    return _validated_entropy(label_dist, "label_dist")
