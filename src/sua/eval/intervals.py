"""Bootstrap confidence intervals over test items, paired differences and the verdicts they give.

A metric ``m`` of a test set of N items (an AUROC, an ECE, a selective or robust accuracy) is
a function of the item indices it is computed on, evaluated on a batch of index rows at once
(a :data:`Statistic`; :func:`per_row` lifts a metric of one row). Its 95 % interval resamples items:
``idx_b ~ Uniform{0..N-1}^N`` for b = 1..B, and the percentile interval is
``[q_{2.5 %}, q_{97.5 %}]`` of ``m(idx_b)`` (Efron & Tibshirani, 1993, ch. 13). With several
seeds scored on the same items, ``m`` is the mean over seeds of the per-seed metric and every
seed sees the same resampled items ("seeds pooled": the interval covers the item sampling, the
seed spread sits in the point estimate's mean).

A paired difference ``m_a − m_b`` (two scores, or two methods, on the same items) is bootstrapped
with the same ``idx_b`` for both sides, so what the two share cancels. Signed so that a positive
value means the claim holds, its interval gives the verdict: *held* (low > 0), *not held*
(high < 0), *inconclusive* (the interval contains 0). Many claims tested at 95 % each yield some
verdicts by chance; :func:`fdr_verdicts` gives the verdicts that survive the Benjamini–Hochberg
false-discovery-rate control over all of them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from sua.errors import SUAInputError

#: A metric of the items at each row of an ``(R, n)`` index array: ``R`` values, NaN where the
#: metric is undefined on that row (one batched call per bootstrap instead of ``R`` calls).
Statistic = Callable[[np.ndarray], np.ndarray]

VERDICTS = ("held", "not held", "inconclusive")


@dataclass(frozen=True)
class Interval:
    """A point estimate on all items and its bootstrap percentile interval."""

    value: float
    ci_low: float
    ci_high: float
    n_items: int
    n_resamples: int
    level: float = 0.95
    undefined: int = 0  # resamples on which the statistic was undefined (NaN), left out

    @property
    def verdict(self) -> str:
        """``held`` when the interval lies above 0, ``not held`` below 0, else ``inconclusive``."""
        return verdict(self.ci_low, self.ci_high)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def verdict(ci_low: float, ci_high: float) -> str:
    """The verdict of a signed paired difference's interval (module doc)."""
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "inconclusive"
    return "held" if ci_low > 0 else "not held" if ci_high < 0 else "inconclusive"


@functools.lru_cache(maxsize=8)
def resample_indices(n_items: int, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """``(n_resamples, n_items)`` item indices drawn with replacement from a seeded stream
    (read-only and cached: every draw over the same items shares them)."""
    if n_items < 1 or n_resamples < 1:
        raise SUAInputError(f"need n_items >= 1 and n_resamples >= 1, got {n_items}, {n_resamples}")
    indices = np.random.default_rng(seed).integers(0, n_items, size=(n_resamples, n_items))
    indices.flags.writeable = False
    return indices


@dataclass(frozen=True)
class Draws:
    """A statistic on all ``n_items`` items (``value``) and on each seeded item resample
    (``resampled``, NaN where undefined). Two draws of the same resamples subtract into the
    draws of the paired difference."""

    value: float
    resampled: np.ndarray
    n_items: int

    def interval(self, level: float = 0.95) -> Interval:
        """The percentile interval ``[q_{(1-level)/2}, q_{(1+level)/2}]`` of the finite resamples;
        NaN resamples (an AUROC with one class only) are left out and counted."""
        if not 0 < level < 1:
            raise SUAInputError(f"level must be in (0, 1), got {level}")
        n_resamples = self.resampled.size
        finite = self.resampled[np.isfinite(self.resampled)]
        if finite.size == 0:
            return Interval(self.value, math.nan, math.nan, self.n_items, n_resamples, level, n_resamples)
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(finite, [tail, 100 - tail])
        return Interval(self.value, float(low), float(high), self.n_items, n_resamples, level,
                        int(n_resamples - finite.size))

    def p_value(self) -> float:
        """Two-sided bootstrap p-value of "the statistic is 0":
        ``p = min(1, 2 · min(#{r ≤ 0} + 1, #{r ≥ 0} + 1) / (B + 1))`` over the ``B`` finite
        resamples ``r`` (Davison & Hinkley, 1997, §4.4); below 0.05 about when the 95 % interval
        excludes 0. NaN when no resample is finite."""
        finite = self.resampled[np.isfinite(self.resampled)]
        if finite.size == 0:
            return math.nan
        tail = min(int((finite <= 0).sum()), int((finite >= 0).sum())) + 1
        return min(1.0, 2 * tail / (finite.size + 1))

    def __sub__(self, other: Draws) -> Draws:
        if other.n_items != self.n_items or other.resampled.shape != self.resampled.shape:
            raise SUAInputError("a paired difference needs draws over the same items and resamples")
        return Draws(self.value - other.value, self.resampled - other.resampled, self.n_items)


def draw(statistic: Statistic, n_items: int, *, n_resamples: int = 1000, seed: int = 0) -> Draws:
    """``statistic`` on all items and on ``n_resamples`` item resamples of the seeded stream
    (:func:`resample_indices`): the same ``seed`` gives the same resamples, so draws pair."""
    value = float(np.asarray(statistic(np.arange(n_items)[None]), dtype=float)[0])
    resampled = np.asarray(statistic(resample_indices(n_items, n_resamples, seed)), dtype=float)
    if resampled.shape != (n_resamples,):
        raise SUAInputError(f"a statistic must give one value per index row; got shape {resampled.shape}")
    return Draws(value, resampled, n_items)


def bootstrap(statistic: Statistic, n_items: int, *, n_resamples: int = 1000, level: float = 0.95,
              seed: int = 0) -> Interval:
    """``statistic`` on all ``n_items`` items and its percentile interval over ``n_resamples``
    item resamples (module doc). Resamples where the statistic is NaN (an AUROC with one class
    only) are left out and counted in :attr:`Interval.undefined`."""
    return draw(statistic, n_items, n_resamples=n_resamples, seed=seed).interval(level)


def paired_difference(a: Statistic, b: Statistic, n_items: int, *, n_resamples: int = 1000,
                      level: float = 0.95, seed: int = 0) -> Interval:
    """``a − b`` on the same items, bootstrapped with the same resamples for both sides."""
    options = {"n_resamples": n_resamples, "seed": seed}
    return (draw(a, n_items, **options) - draw(b, n_items, **options)).interval(level)


def pool_seeds(per_seed: list[Draws]) -> Draws:
    """The draws of :func:`seed_mean` from each seed's draws over the same resamples: the mean
    value and the mean of each resample."""
    if not per_seed:
        raise SUAInputError("pool_seeds needs at least one seed")
    return Draws(float(np.mean([d.value for d in per_seed])),
                 np.mean([d.resampled for d in per_seed], axis=0), per_seed[0].n_items)


def per_row(metric: Callable[[np.ndarray], float]) -> Statistic:
    """The :data:`Statistic` of a metric of one index row: ``metric`` applied to each row."""
    return lambda rows: np.array([metric(idx) for idx in rows], dtype=float)


def seed_mean(per_seed: list[Statistic]) -> Statistic:
    """The mean over seeds of a per-seed statistic, each seed on the same item indices."""
    if not per_seed:
        raise SUAInputError("seed_mean needs at least one seed")
    return lambda rows: np.mean([np.asarray(f(rows), dtype=float) for f in per_seed], axis=0)


def fdr_verdicts(values: list[float], p_values: list[float],
                 q: float = 0.05) -> tuple[list[float], list[str]]:
    """Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control``) of the
    claims' bootstrap p-values (:meth:`Draws.p_value`) and the verdict of each at false-discovery
    rate ``q``: *held* / *not held* by the sign of its ``value`` where the adjusted p is below
    ``q``, else *inconclusive*. NaN p-values stay NaN and inconclusive."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = false_discovery_control(p[finite])
    out = ["inconclusive" if not (a < q) else "held" if v > 0 else "not held"
           for v, a in zip(values, adjusted, strict=True)]
    return adjusted.tolist(), out
