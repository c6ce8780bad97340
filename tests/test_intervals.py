"""Bootstrap intervals, paired differences and verdicts (sua.eval.intervals) against scipy and
hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sua.eval.intervals import bootstrap, paired_difference, resample_indices, seed_mean, verdict
from sua.measures.ranking import failure_auroc


def test_percentile_interval_matches_scipy() -> None:
    x = np.random.default_rng(3).normal(0.4, 1.0, size=300)
    ours = bootstrap(lambda idx: float(x[idx].mean()), len(x), n_resamples=4000, seed=1)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile",
                          random_state=np.random.default_rng(2)).confidence_interval
    assert ours.value == pytest.approx(x.mean())
    # two independent Monte Carlo estimates of the same percentiles
    assert ours.ci_low == pytest.approx(ref.low, abs=0.01)
    assert ours.ci_high == pytest.approx(ref.high, abs=0.01)


def test_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        x = rng.exponential(1.0, size=200)  # true mean 1
        iv = bootstrap(lambda idx, x=x: float(x[idx].mean()), len(x), n_resamples=500, seed=trial)
        covered += iv.ci_low <= 1.0 <= iv.ci_high
    assert 0.88 <= covered / 200 <= 0.99


def test_paired_difference_cancels_what_both_sides_share() -> None:
    rng = np.random.default_rng(5)
    wrong = rng.random(400) < 0.3
    noise = rng.normal(size=400)
    good = wrong + 0.8 * noise           # ranks failures well
    same = bootstrap(lambda idx: failure_auroc(good[idx], wrong[idx]), 400, seed=0)
    zero = paired_difference(lambda idx: failure_auroc(good[idx], wrong[idx]),
                             lambda idx: failure_auroc(good[idx], wrong[idx]), 400, seed=0)
    assert (zero.value, zero.ci_low, zero.ci_high) == (0.0, 0.0, 0.0) and zero.verdict == "inconclusive"
    assert same.ci_low < same.value < same.ci_high
    diff = paired_difference(lambda idx: failure_auroc(good[idx], wrong[idx]),
                             lambda idx: failure_auroc(noise[idx], wrong[idx]), 400, seed=0)
    assert diff.value == pytest.approx(failure_auroc(good, wrong) - failure_auroc(noise, wrong))
    assert diff.verdict == "held" and diff.ci_low > 0.2


def test_undefined_resamples_are_counted() -> None:
    wrong = np.zeros(30, dtype=bool)
    wrong[0] = True                     # one failure: many resamples miss it and the AUROC is undefined
    score = np.arange(30, dtype=float)
    iv = bootstrap(lambda idx: failure_auroc(score[idx], wrong[idx]), 30, n_resamples=300, seed=0)
    # P(a resample misses item 0) = (29/30)^30 ~ 0.36
    assert 60 < iv.undefined < 160


def test_seed_mean_and_verdicts() -> None:
    x, y = np.arange(10.0), np.arange(10.0) * 3
    f = seed_mean([lambda idx: float(x[idx].mean()), lambda idx: float(y[idx].mean())])
    assert f(np.arange(10)) == pytest.approx((4.5 + 13.5) / 2)
    assert resample_indices(10, 5, seed=1).shape == (5, 10)
    assert np.array_equal(resample_indices(10, 5, seed=1), resample_indices(10, 5, seed=1))
    assert [verdict(0.01, 0.2), verdict(-0.3, -0.01), verdict(-0.1, 0.1), verdict(np.nan, 1)] == \
        ["held", "not held", "inconclusive", "inconclusive"]
