"""The paper's Section 4 results in the forms SPEC.md says the code can check, on cached
predictions (arrays). With the 0-1 loss of the randomized predictor ``y ~ p(.|x)`` the risk is
``R(x) = 1 - p(y|x)``, and Assumption 1 holds with ``L = 1`` for total variation:
``|R(x) - R(x')| = |p(y|x) - p(y|x')| <= TV(p(.|x), p(.|x'))``. Every inequality below is
returned with both sides, the terms of its right-hand side and the slack ``rhs - lhs``.

The exact constants of the paper's (10)-(14) did not survive extraction; these are the forms
that follow from its stated assumptions. Corollary 4.4, Prop. 4.8 and the smoothing bound of
Lemma 4.7 are theorems (a failure is a bug); Lemma 4.6 holds only under its assumptions,
which real data need not meet; Theorem 4.5 is reported as a table, not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sua import defaults
from sua.errors import SUAInputError
from sua.measures import (
    Sensitivity,
    entropy,
    max_probability,
    miscalibration_gap,
    sensitivity,
    sua_risk,
    sua_score,
)
from sua.measures.metrics import coverage_threshold

#: Rounding tolerance when deciding whether ``lhs <= rhs`` holds.
TOL = 1e-9
#: Coverage levels whose SUA_TV quantiles form the default τ grid of Prop. 4.8.
DEFAULT_COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Label-smoothing strengths γ for Lemma 4.7.
DEFAULT_GAMMAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Inequality:
    """``lhs <= rhs`` with ``rhs = sum(terms.values())``, its slack and whether it holds."""

    name: str
    lhs: float
    rhs: float
    slack: float
    holds: bool
    terms: dict[str, float]


def _inequality(name: str, lhs: float, terms: dict[str, float]) -> Inequality:
    rhs = float(sum(terms.values()))
    return Inequality(name, float(lhs), rhs, rhs - float(lhs), bool(lhs <= rhs + TOL),
                      {k: float(v) for k, v in terms.items()})


def _label_ids(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != p.shape[:1] or y.dtype.kind not in "iu" or ((y < 0) | (y >= p.shape[-1])).any():
        raise SUAInputError(f"y must hold one integer label id in [0, {p.shape[-1]}) per input "
                            f"({p.shape[0]} inputs); got shape {y.shape}, dtype {y.dtype}")
    return y


def zero_one_risk(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0-1 risk of the randomized predictor ``y' ~ p``: ``R = 1 - p(y)``.

    ``p`` (N, C) or (N, K, C), ``y`` (N,) integer gold ids; returns (N,) or (N, K).

    >>> zero_one_risk(np.array([[0.7, 0.3]]), np.array([1]))
    array([0.7])
    """
    p = np.asarray(p, dtype=np.float64)
    y = _label_ids(p, y)
    picked = np.take_along_axis(p, y.reshape((-1,) + (1,) * (p.ndim - 1)), axis=-1)[..., 0]
    return 1.0 - picked


def _tv_and_risks(p_clean: np.ndarray, p_perturbed: np.ndarray,
                  y: np.ndarray) -> tuple[Sensitivity, np.ndarray, np.ndarray, np.ndarray]:
    """TV sensitivity, entropy, clean risks (N,) and perturbed risks (N, K)."""
    return (sensitivity(p_clean, p_perturbed, divergence="tv"), entropy(p_clean),
            zero_one_risk(p_clean, y), zero_one_risk(p_perturbed, y))


@dataclass(frozen=True)
class RiskBound:
    """Corollary 4.4 in its expected and worst-of-K forms (see :func:`corollary_4_4`)."""

    expected: Inequality
    worst: Inequality


def corollary_4_4(p_clean: np.ndarray, p_perturbed: np.ndarray, y: np.ndarray,
                  lam: float = defaults.LAM) -> RiskBound:
    """Perturbed risk bounded by clean risk plus SUA risk (Theorem 4.3, Corollary 4.4).

    With ``S_TV(x) = mean_k TV(p(.|x), p(.|x'_k))`` and ``SUA_TV = S_TV - λH``:

    - expected: ``E_x mean_k R(x'_k) <= E_x R(x) + R_SUA + λ·E_x H(x)``, ``R_SUA = E[(SUA_TV)_+]``;
    - worst of K: ``E_x max_k R(x'_k) <= E_x R(x) + E[(max_k TV_k - λH)_+] + λ·E_x H(x)``.

    Both follow from ``R(x') <= R(x) + TV`` and ``S <= (S - λH)_+ + λH``, for every λ >= 0.
    ``p_clean`` (N, C), ``p_perturbed`` (N, K, C), ``y`` (N,) gold ids.
    """
    tv, h, r_clean, r_pert = _tv_and_risks(p_clean, p_perturbed, y)
    base = {"clean_risk": r_clean.mean(), "lam_mean_entropy": lam * h.mean()}
    return RiskBound(
        _inequality("corollary_4_4_expected", r_pert.mean(),
                    {**base, "sua_risk": sua_risk(sua_score(tv.expected, h, lam))}),
        _inequality("corollary_4_4_worst", r_pert.max(axis=1).mean(),
                    {**base, "sua_risk": sua_risk(sua_score(tv.worst, h, lam))}),
    )


@dataclass(frozen=True)
class CoveredBound:
    """Prop. 4.8 at one τ: coverage and the bound on the covered set (``None`` if empty)."""

    tau: float
    coverage: float
    n_covered: int
    bound: Inequality | None


def proposition_4_8(p_clean: np.ndarray, p_perturbed: np.ndarray, y: np.ndarray,
                    lam: float = defaults.LAM, taus: Sequence[float] | None = None) -> list[CoveredBound]:
    """Selective risk under perturbation when abstaining on ``SUA_TV > τ`` (Prop. 4.8).

    On the covered set ``C_τ = {x: SUA_TV(x) <= τ}`` every input has ``S_TV <= τ + λH``, so
    ``E[mean_k R(x'_k) | C_τ] <= E[R(x) | C_τ] + τ + λ·E[H | C_τ]``; coverage
    ``c(τ) = P(SUA_TV <= τ)``. ``taus`` defaults to the SUA_TV quantiles at
    :data:`DEFAULT_COVERAGES`.
    """
    tv, h, r_clean, r_pert = _tv_and_risks(p_clean, p_perturbed, y)
    sua = sua_score(tv.expected, h, lam)
    if taus is None:
        taus = [coverage_threshold(sua, c) for c in DEFAULT_COVERAGES]
    rows = []
    for tau in taus:
        cov = sua <= tau
        bound = None
        if cov.any():
            bound = _inequality("proposition_4_8", r_pert[cov].mean(),
                                {"covered_risk": r_clean[cov].mean(), "tau": tau,
                                 "lam_mean_entropy": lam * h[cov].mean()})
        rows.append(CoveredBound(float(tau), float(cov.mean()), int(cov.sum()), bound))
    return rows


@dataclass(frozen=True)
class ConfidenceBin:
    """One confidence bin of the Theorem 4.5 table; ``gap`` = mean confidence - accuracy."""

    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float
    gap: float
    mean_sensitivity: float
    mean_entropy: float


def theorem_4_5_table(p_clean: np.ndarray, y: np.ndarray, sens: np.ndarray,
                      n_bins: int = 15) -> list[ConfidenceBin]:
    """Per-bin mean S, mean H, mean confidence and accuracy (Theorem 4.5).

    Confidence is ``max_y p(y|x)``, cut into ``n_bins`` equal-width bins of ``[0, 1]``
    (``[lo, hi)``, the last one closed); empty bins are left out. The theorem says a bin with
    high mean S and low mean H has a large confidence-accuracy gap; the table shows it.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise SUAInputError(f"n_bins must be a positive integer, got {n_bins!r}")
    p = np.asarray(p_clean, dtype=np.float64)
    conf, h = max_probability(p), entropy(p)
    right = p.argmax(axis=-1) == _label_ids(p, y)
    sens = np.asarray(sens, dtype=np.float64)
    if sens.shape != right.shape:
        raise SUAInputError(f"sens must hold one value per input, shape {right.shape}; "
                            f"got {sens.shape}")
    idx = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    rows = []
    for b in np.unique(idx).tolist():
        m = idx == b
        acc = float(right[m].mean())
        rows.append(ConfidenceBin(b / n_bins, (b + 1) / n_bins, int(m.sum()),
                                  float(conf[m].mean()), acc, float(conf[m].mean()) - acc,
                                  float(sens[m].mean()), float(h[m].mean())))
    return rows


@dataclass(frozen=True)
class AmbiguityGapCheck:
    """Lemma 4.6 over n items: how often ``Δ(x) >= A(x) - H_θ(x) - η`` holds, and by how much."""

    n: int
    share_holds: float
    mean_slack: float
    min_slack: float
    mean_gap: float
    mean_rhs: float


def lemma_4_6(h_true: np.ndarray, ambiguity: np.ndarray, h_model: np.ndarray,
              eta: float | np.ndarray = 0.0) -> AmbiguityGapCheck:
    """Miscalibration gap against ambiguity: ``Δ(x) = H*(x) - H_θ(x) >= A(x) - H_θ(x) - η(x)``.

    ``h_true`` is H* (entropy of a reference label distribution, e.g. annotator votes),
    ``ambiguity`` A (entropy over the valid interpretations), ``η = H(Z | Y, X)`` (0 when each
    interpretation fixes the label). The slack is ``Δ - (A - H_θ - η) = H* - A + η``: the
    model's entropy cancels, so on data the check measures whether the reference label
    entropy reaches the interpretation entropy, which the lemma assumes and data need not meet.
    """
    gap = miscalibration_gap(h_true, h_model)
    rhs = np.asarray(ambiguity, dtype=np.float64) - np.asarray(h_model) - eta
    slack = gap - rhs
    if slack.size == 0:
        raise SUAInputError("Lemma 4.6 needs at least one item")
    return AmbiguityGapCheck(int(slack.size), float((slack >= -TOL).mean()),
                             float(slack.mean()), float(slack.min()), float(gap.mean()),
                             float(rhs.mean()))


@dataclass(frozen=True)
class SmoothingRow:
    """Lemma 4.7 at one γ: mean divergence, its bound ``(1-γ)·D_0``, base risk, mean entropy."""

    gamma: float
    divergence: float
    divergence_bound: float
    risk: float
    mean_entropy: float


def lemma_4_7(p_clean: np.ndarray, p_perturbed: np.ndarray, y: np.ndarray,
              gammas: Sequence[float] = DEFAULT_GAMMAS,
              divergence: str = defaults.DIVERGENCE) -> list[SmoothingRow]:
    """Label smoothing ``q = (1-γ)p + γu`` on clean and perturbed predictions (Lemma 4.7).

    Divergence: every f-divergence (JSD, TV, KL, Hellinger) is jointly convex and
    ``D(u, u) = 0``, so ``D(q_γ, q'_γ) <= (1-γ)·D(p, p')`` for every pair: smoothing lowers it,
    monotonically in γ (a theorem; ``divergence_bound`` is the right-hand side averaged).
    Risk: ``R_γ(x) = 1 - q_γ(y|x) = R(x) + γ·(p(y|x) - 1/C)``, so smoothing raises the base
    risk exactly when the model beats chance on the gold label, on average
    ``mean p(y|x) > 1/C`` (not a theorem: reported).
    """
    p, pp = np.asarray(p_clean, dtype=np.float64), np.asarray(p_perturbed, dtype=np.float64)
    u = 1.0 / p.shape[-1]
    d0 = float(sensitivity(p, pp, divergence=divergence).expected.mean())
    rows = []
    for gamma in gammas:
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 <= gamma <= 1:
            raise SUAInputError(f"smoothing strengths γ must be numbers in [0, 1], got {gamma!r}")
        q, qq = (1 - gamma) * p + gamma * u, (1 - gamma) * pp + gamma * u
        d = float(sensitivity(q, qq, divergence=divergence).expected.mean())
        rows.append(SmoothingRow(float(gamma), d, (1 - gamma) * d0,
                                 float(zero_one_risk(q, y).mean()), float(entropy(q).mean())))
    return rows

