"""A distribution-free certificate for a target selective risk (the threshold for a target
coverage is :func:`sua.measures.metrics.coverage_threshold`, the package's one coverage cut).

Conventions: a higher score means "more likely to fail"; an input is *covered* (answered)
when its score is ``<= tau``; coverage ``c(tau) = P(score <= tau)``; selective risk
``R(tau) = P(wrong | score <= tau)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sua.errors import SUAInputError
from sua.measures.metrics import check_level


def clopper_pearson_upper(errors: np.ndarray | int, n: np.ndarray | int,
                          delta: float) -> np.ndarray:
    """One-sided Clopper-Pearson upper confidence bound on a binomial rate.

    ``U(k, n) = BetaInv(1 - delta; k + 1, n - k)`` for ``k < n``, and 1 when ``k = n``
    (which covers ``n = 0``): ``P(p <= U) >= 1 - delta`` for ``k ~ Bin(n, p)``, exactly, for
    every ``n``. Vectorised over ``errors`` and ``n``.

    >>> round(float(clopper_pearson_upper(0, 100, 0.05)), 4)  # 1 - 0.05 ** (1/100)
    0.0295
    """
    from scipy.stats import beta  # scipy: only the risk certificate needs it

    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise SUAInputError(f"delta must be a number in (0, 1), got {delta!r}")
    k, m = np.broadcast_arrays(np.asarray(errors, dtype=np.float64), np.asarray(n, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        upper = beta.ppf(1.0 - delta, k + 1.0, m - k)
    return np.where(k >= m, 1.0, upper)


class RiskCertificate(NamedTuple):
    """Result of :func:`certify_fixed_sequence` over candidates ordered most to least
    conservative.

    ``index``: the last candidate certified (every earlier one was certified too), ``-1``
    when the first already failed. ``upper_bounds``: the Clopper-Pearson bound of every
    candidate, ``n_covered`` and ``n_errors`` the counts behind them.
    """

    index: int
    upper_bounds: np.ndarray
    n_covered: np.ndarray
    n_errors: np.ndarray


def certify_fixed_sequence(covered: np.ndarray, wrong: np.ndarray, target_risk: float,
                           delta: float) -> RiskCertificate:
    """Fixed-sequence testing of ``H_j: R_j > target_risk`` (Learn-then-Test, Angelopoulos et
    al. 2021; cf. Geifman & El-Yaniv 2017, selection with guaranteed risk).

    ``covered`` (m, n) is the covered mask of each of m candidate thresholds, ordered from most
    to least conservative; ``wrong`` (n,) marks the errors. Candidate j is certified when the
    Clopper-Pearson bound ``U(k_j, n_j) <= target_risk`` (``n_j`` covered inputs, ``k_j``
    errors among them), and testing stops at the first failure. Every test runs at level
    ``delta`` and the order is fixed before the losses are seen, so the chance of certifying
    any candidate whose true selective risk exceeds ``target_risk`` is at most ``delta``
    (exact for thresholds fixed in advance; thresholds taken at score quantiles of the same
    data, as in SGR, make it approximate).
    """
    target = check_level(target_risk, "target_risk")
    n_cov = covered.sum(axis=1)
    n_err = (covered & wrong[None, :]).sum(axis=1)
    upper = clopper_pearson_upper(n_err, n_cov, delta)
    fails = upper > target
    first_failure = int(np.argmax(fails)) if fails.any() else len(upper)
    return RiskCertificate(first_failure - 1, upper, n_cov, n_err)
