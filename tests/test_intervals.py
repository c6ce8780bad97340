"""Bootstrap intervals, paired differences and verdicts (sua.eval.intervals) against scipy and
hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sua.errors import SUAInputError
from sua.eval.intervals import bootstrap, paired_difference, per_row, resample_indices, seed_mean, verdict
from sua.measures.ranking import failure_auroc


def test_percentile_interval_matches_scipy() -> None:
    x = np.random.default_rng(3).normal(0.4, 1.0, size=300)
    ours = bootstrap(lambda rows: x[rows].mean(axis=1), len(x), n_resamples=4000, seed=1)
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
        iv = bootstrap(lambda rows, x=x: x[rows].mean(axis=1), len(x), n_resamples=500, seed=trial)
        covered += iv.ci_low <= 1.0 <= iv.ci_high
    assert 0.88 <= covered / 200 <= 0.99


def test_paired_difference_cancels_what_both_sides_share() -> None:
    rng = np.random.default_rng(5)
    wrong = rng.random(400) < 0.3
    noise = rng.normal(size=400)
    good = wrong + 0.8 * noise           # ranks failures well
    same = bootstrap(per_row(lambda idx: failure_auroc(good[idx], wrong[idx])), 400, seed=0)
    zero = paired_difference(per_row(lambda idx: failure_auroc(good[idx], wrong[idx])),
                             per_row(lambda idx: failure_auroc(good[idx], wrong[idx])), 400, seed=0)
    assert (zero.value, zero.ci_low, zero.ci_high) == (0.0, 0.0, 0.0) and zero.verdict == "inconclusive"
    assert same.ci_low < same.value < same.ci_high
    diff = paired_difference(per_row(lambda idx: failure_auroc(good[idx], wrong[idx])),
                             per_row(lambda idx: failure_auroc(noise[idx], wrong[idx])), 400, seed=0)
    assert diff.value == pytest.approx(failure_auroc(good, wrong) - failure_auroc(noise, wrong))
    assert diff.verdict == "held" and diff.ci_low > 0.2


def test_undefined_resamples_are_counted() -> None:
    wrong = np.zeros(30, dtype=bool)
    wrong[0] = True                     # one failure: many resamples miss it and the AUROC is undefined
    score = np.arange(30, dtype=float)
    iv = bootstrap(per_row(lambda idx: failure_auroc(score[idx], wrong[idx])), 30, n_resamples=300, seed=0)
    # P(a resample misses item 0) = (29/30)^30 ~ 0.36
    assert 60 < iv.undefined < 160


def test_seed_mean_and_verdicts() -> None:
    x, y = np.arange(10.0), np.arange(10.0) * 3
    f = seed_mean([lambda rows: x[rows].mean(axis=1), lambda rows: y[rows].mean(axis=1)])
    assert f(np.arange(10)[None]) == pytest.approx([(4.5 + 13.5) / 2])
    assert resample_indices(10, 5, seed=1).shape == (5, 10)
    assert np.array_equal(resample_indices(10, 5, seed=1), resample_indices(10, 5, seed=1))
    assert [verdict(0.01, 0.2), verdict(-0.3, -0.01), verdict(-0.1, 0.1), verdict(np.nan, 1)] == \
        ["held", "not held", "inconclusive", "inconclusive"]


def test_batched_auroc_and_selective_accuracy_match_independent_per_row_references() -> None:
    """The bootstrap's batched statistics (one call for all resamples) against sklearn's AUROC
    and a plain-Python stable cut on each resample, with ties in the scores."""
    from sklearn.metrics import roc_auc_score

    from sua.measures.metrics import selective_accuracy_rows
    from sua.measures.ranking import TiedRanks, failure_auroc_rows

    rng = np.random.default_rng(7)
    score = np.round(rng.random(120), 1)           # ten distinct values: many ties
    wrong = rng.random(120) < 0.3
    rows = resample_indices(120, 40, seed=3)
    auroc = failure_auroc_rows(TiedRanks.of(score), wrong, rows)
    assert auroc == pytest.approx([roc_auc_score(wrong[r], score[r]) for r in rows])
    for coverage in (0.9, 0.8, 0.7):
        k = int(np.ceil(coverage * 120))
        cut = [sorted(range(120), key=lambda j, r=r: (score[r[j]], j))[:k] for r in rows]
        ref = [np.mean(~wrong[r][kept]) for r, kept in zip(rows, cut, strict=True)]
        assert selective_accuracy_rows(score, ~wrong, rows, coverage) == pytest.approx(ref)


def test_batched_auroc_without_ties_and_on_fresh_index_arrays_matches_sklearn() -> None:
    """Distinct scores (the path without tie groups), writeable index arrays (counted afresh on
    each call, not cached) and a row holding one class only (NaN, as the AUROC is undefined)."""
    from sklearn.metrics import roc_auc_score

    from sua.measures.ranking import TiedRanks, failure_auroc_rows

    rng = np.random.default_rng(5)
    score, wrong = rng.random(90), rng.random(90) < 0.25
    ranks = TiedRanks.of(score)
    for seed in (1, 2):
        rows = np.random.default_rng(seed).integers(0, 90, size=(25, 90))
        assert failure_auroc_rows(ranks, wrong, rows) == \
            pytest.approx([roc_auc_score(wrong[r], score[r]) for r in rows])
    one_class = np.full((1, 90), np.flatnonzero(~wrong)[0])
    assert np.isnan(failure_auroc_rows(ranks, wrong, one_class)).all()
    for bad in (np.array([[0, 90]]), np.array([[-1, 3]]), np.arange(3)):
        with pytest.raises(SUAInputError, match="idx"):
            failure_auroc_rows(ranks, wrong, bad)


def test_batched_calibration_error_matches_torchmetrics_per_resample() -> None:
    import torch
    from torchmetrics.functional.classification import binary_calibration_error

    from sua.measures.metrics import calibration_error_rows

    rng = np.random.default_rng(11)
    confidence = np.concatenate([rng.uniform(0.3, 1.0, 150), [1.0, 1 / 15, 0.5]])
    correct = rng.random(confidence.size) < confidence
    rows = resample_indices(confidence.size, 30, seed=2)
    ref = [float(binary_calibration_error(torch.tensor(confidence[r], dtype=torch.float32),
                                          torch.tensor(correct[r].astype(int)), n_bins=15, norm="l1"))
           for r in rows]
    assert calibration_error_rows(confidence, correct, rows) == pytest.approx(ref, abs=1e-6)


def test_bootstrap_p_values_and_fdr_verdicts_match_hand_counts_and_benjamini_hochberg() -> None:
    from sua.eval.intervals import Draws, fdr_verdicts

    # 1 of 9 resamples at or below 0, 8 at or above: p = 2 · (1 + 1) / 10
    d = Draws(0.5, np.array([-0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]), 50)
    assert d.p_value() == pytest.approx(0.4)
    assert Draws(0.0, np.zeros(9), 5).p_value() == 1.0
    assert np.isnan(Draws(0.0, np.full(4, np.nan), 5).p_value())
    # hand-worked BH on four p-values: sorted 0.001, 0.01, 0.03, 0.5 -> adjusted
    # min over j >= i of p_(j) · m / j: 0.004, 0.02, 0.04, 0.5
    values, p = [0.2, -0.1, 0.05, 0.3], [0.01, 0.001, 0.03, 0.5]
    adjusted, verdicts = fdr_verdicts(values, p)
    assert adjusted == pytest.approx([0.02, 0.004, 0.04, 0.5])
    assert verdicts == ["held", "not held", "held", "inconclusive"]
    # a percentile-interval verdict and its p-value agree on a clear case
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 1.0, 400)
    draws = Draws(float(x.mean()), np.array([x[idx].mean() for idx in resample_indices(400, 2000, 1)]), 400)
    assert draws.interval().verdict == "held" and draws.p_value() < 0.05
