"""Distributional sensitivity S(x) (eq. 2): Monte-Carlo estimate and worst case (Def. 3.3)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from sua.errors import SUAInputError
from sua.measures._tensor import ArrayLike, probabilities, restore
from sua.measures.divergences import DivergenceSpec, apply_divergence, get_divergence


class Sensitivity(NamedTuple):
    """Per-input sensitivity, all in the input's array type.

    ``expected`` (N,): the (weighted) mean divergence over the K perturbations, ``Ŝ(x)``.
    ``worst`` (N,): the largest divergence among perturbations with non-zero weight, the
    sample estimate of ``S^sup(x)`` (always ``>= expected``, exactly: ``expected`` is capped at
    ``worst`` where the mean rounds one ulp above the maximum).
    ``per_perturbation`` (N, K): ``D(p(.|x) || p(.|x'_k))`` for every k.
    """

    expected: ArrayLike
    worst: ArrayLike
    per_perturbation: ArrayLike


def _check_shapes(p_clean: torch.Tensor, p_perturbed: torch.Tensor,
                  weights: torch.Tensor | None) -> None:
    clean, pert = tuple(p_clean.shape), tuple(p_perturbed.shape)
    if len(clean) != 2 or len(pert) != 3:
        raise SUAInputError(f"p_clean must be (N, C) and p_perturbed (N, K, C); got p_clean "
                            f"{clean} and p_perturbed {pert}")
    if clean[0] != pert[0] or clean[1] != pert[2]:
        raise SUAInputError(f"p_clean {clean} and p_perturbed {pert} disagree: N and C must "
                            "match (p_clean (N, C), p_perturbed (N, K, C))")
    if weights is None:
        return
    if tuple(weights.shape) != pert[:2]:
        raise SUAInputError(f"weights must have shape (N, K) = {pert[:2]}; got "
                            f"{tuple(weights.shape)}")
    if not torch.isfinite(weights).all() or (weights < 0).any():
        raise SUAInputError("weights must be finite and non-negative")
    empty = weights.sum(dim=1) <= 0
    if empty.any():
        row = int(empty.int().argmax())
        raise SUAInputError(f"weights row {row} sums to 0; every input needs at least one "
                            "perturbation with positive weight")


def sensitivity(p_clean: ArrayLike, p_perturbed: ArrayLike, divergence: DivergenceSpec = "jsd",
                weights: ArrayLike | None = None) -> Sensitivity:
    """Monte-Carlo distributional sensitivity (eq. 2, Section 5.4).

    ``Ŝ(x) = (1/K) sum_k D(p(.|x) || p(.|x'_k))`` with ``x'_k ~ Q_x``: ``p_clean`` is
    ``p(.|x)`` with shape (N, C), ``p_perturbed`` is ``p(.|x'_k)`` with shape (N, K, C).
    With ``weights`` (N, K) (non-negative, each row sum > 0) the mean is
    ``sum_k w_k D_k / sum_k w_k``; a zero weight drops that perturbation from both
    ``expected`` and ``worst``. ``divergence`` is a registered name or a kernel (see
    :func:`sua.measures.divergence`). Numpy in, numpy out; torch in, torch out (differentiable).

    >>> import numpy as np
    >>> clean = np.array([[0.5, 0.5]])
    >>> pert = np.array([[[0.5, 0.5], [1.0, 0.0]]])
    >>> s = sensitivity(clean, pert, divergence="tv")
    >>> s.expected, s.worst, s.per_perturbation
    (array([0.25]), array([0.5]), array([[0. , 0.5]]))
    """
    fn = get_divergence(divergence)
    (clean, pert, w), torch_out = probabilities({"p_clean": p_clean, "p_perturbed": p_perturbed},
                                                weights)
    _check_shapes(clean, pert, w)
    per = apply_divergence(fn, clean.unsqueeze(1), pert)
    if w is None:
        expected, worst = per.mean(dim=1), per.amax(dim=1)
    else:
        used = w > 0
        # where(), not w * per: a zero-weighted +inf divergence must not turn into NaN
        expected = torch.where(used, w * per, 0.0).sum(dim=1) / w.sum(dim=1)
        worst = torch.where(used, per, -torch.inf).amax(dim=1)
    # a mean of equal values can round 1 ulp above them: keep "worst >= expected" exact
    expected = torch.minimum(expected, worst)
    return Sensitivity(*(restore(t, torch_out) for t in (expected, worst, per)))
