"""sua.measures.metrics (and sua.eval.metrics over records) against independent implementations
(torchmetrics, netcal, sklearn, an LM-Polygraph-style PRR written here) and hand-computed cases;
stateful == functional."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from torchmetrics.functional.classification import multiclass_calibration_error

from sua.errors import SUAInputError
from sua.eval.metrics import metrics_from_records
from sua.measures.failure_scores import FAILURE_SCORES, failure_score
from sua.measures.metrics import (
    CalibrationError,
    FailureAUROC,
    RobustAccuracy,
    SelectiveAccuracy,
    accuracy,
    aurc,
    brier_score,
    calibration_bins,
    calibration_error,
    coverage_count,
    coverage_threshold,
    excess_aurc,
    expected_calibration_error,
    failure_auroc,
    kept_order,
    negative_log_likelihood,
    prediction_rejection_ratio,
    risk_coverage_curve,
    robust_accuracy,
    selective_accuracy,
)


def _random_probs(seed: int, n: int = 400, c: int = 4, sharp: float = 3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=sharp, size=(n, c))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    # labels agree with the argmax about 60% of the time
    y = np.where(rng.random(n) < 0.6, p.argmax(1), rng.integers(0, c, n))
    return p, y


def _torchmetrics_ece(p: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    return float(multiclass_calibration_error(torch.tensor(p, dtype=torch.float64), torch.tensor(y),
                                              num_classes=p.shape[1], n_bins=n_bins, norm="l1"))


# ------------------------------------------------------------------ calibration

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_bins", [15, 10, 7])
def test_ece_matches_torchmetrics(seed, n_bins):
    p, y = _random_probs(seed, c=2 + seed)
    assert expected_calibration_error(p, y, n_bins=n_bins) == pytest.approx(
        _torchmetrics_ece(p, y, n_bins), abs=1e-6)  # torchmetrics sums in float32


def test_ece_bins_match_torchmetrics_on_edges_and_saturated_confidence():
    # confidences exactly on edges k/15 (0.2, 0.4, 0.6, 11/15, 0.8), exactly 1.0 (which
    # torchmetrics puts in a bin of its own) and just below 0.6 in float64 but 0.6 in float32
    # (torchmetrics compares in float32, so it lands in the bin starting at 0.6)
    below = float(np.nextafter(0.6, 0.0))
    tops = [0.2, 0.4, 0.6, 11 / 15, 0.8, 1.0, 1.0, 0.6, 13 / 15, 0.4, 0.2, 1.0, below, below]
    c = 5
    p = np.array([[t] + [(1 - t) / (c - 1)] * (c - 1) for t in tops])
    y = np.array([0, 1, 0, 0, 2, 0, 3, 0, 1, 0, 4, 0, 1, 1])
    assert expected_calibration_error(p, y) == pytest.approx(_torchmetrics_ece(p, y), abs=1e-6)
    bins = calibration_bins(p.max(1), p.argmax(1) == y)
    assert bins.count[-1] == 3 and bins.lower[-1] == bins.upper[-1] == 1.0
    assert bins.count[9] == 4  # 0.6 twice and the two float32-0.6 values: bin [0.6, 0.667)
    # the same bins as torch.bucketize(float32 confidence, float32 linspace, right=True) - 1
    conf = torch.tensor(p.max(1), dtype=torch.float32)
    idx = torch.bucketize(conf, torch.linspace(0, 1, 16), right=True) - 1
    assert bins.count.tolist() == torch.bincount(idx, minlength=16).tolist()


def test_ece_quantile_and_uniform_match_netcal():
    netcal_metrics = pytest.importorskip("netcal.metrics")
    p, y = _random_probs(7, n=300, c=3)
    assert expected_calibration_error(p, y) == pytest.approx(
        netcal_metrics.ECE(bins=15).measure(p, y), abs=1e-12)
    assert expected_calibration_error(p, y, strategy="quantile") == pytest.approx(
        netcal_metrics.ECE(bins=15, equal_intervals=False).measure(p, y), abs=1e-12)


def test_ece_of_a_perfectly_calibrated_construction_is_zero():
    conf, correct = [], []
    for c in (0.55, 0.65, 0.75, 0.85, 0.95):  # one confidence per bin, 20 inputs each
        k = round(20 * c)
        conf += [c] * 20
        correct += [True] * k + [False] * (20 - k)
    assert calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)
    assert calibration_error(conf, correct, strategy="quantile") == pytest.approx(0.0, abs=1e-12)
    # always 1.0 confident and always right: calibrated too
    assert calibration_error([1.0, 1.0], [True, True]) == 0.0


def test_ece_by_hand_and_bins():
    # bins [0.8667, 0.9333) holds 0.9, 0.9 (acc 1/2); bin [0.6, 0.6667) holds 0.6, 0.6 (acc 1)
    assert calibration_error([0.9, 0.9, 0.6, 0.6], [1, 0, 1, 1]) == pytest.approx(
        0.5 * 0.4 + 0.5 * 0.4)
    b = calibration_bins([0.1, 0.3, 0.35, 0.9], [1, 0, 1, 1], n_bins=4)
    assert b.count.tolist() == [1, 2, 0, 1, 0]
    np.testing.assert_allclose(b.lower, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(b.upper, [0.25, 0.5, 0.75, 1.0, 1.0])
    np.testing.assert_allclose(b.confidence[[0, 1, 3]], [0.1, 0.325, 0.9])
    np.testing.assert_allclose(b.accuracy[[0, 1, 3]], [1.0, 0.5, 1.0])
    assert np.isnan(b.accuracy[2]) and b.n == 4
    assert b.calibration_error() == pytest.approx((0.9 + 2 * 0.175 + 0.1) / 4)
    q = calibration_bins(np.linspace(0.05, 0.95, 12), np.ones(12), n_bins=4, strategy="quantile")
    assert q.count.tolist() == [3, 3, 3, 3, 0]


def test_probs_form_is_the_confidence_form():
    p, y = _random_probs(3)
    for strategy in ("uniform", "quantile"):
        assert expected_calibration_error(p, y, strategy=strategy) == calibration_error(
            p.max(1), p.argmax(1) == y, strategy=strategy)


# ------------------------------------------------------------------ proper scores, accuracy

@pytest.mark.parametrize("seed", range(3))
def test_brier_and_nll_match_sklearn(seed):
    p, y = _random_probs(seed, c=3, sharp=1.0)
    assert brier_score(p, y) == pytest.approx(brier_score_loss(y, p, labels=[0, 1, 2]), abs=1e-12)
    assert negative_log_likelihood(p, y) == pytest.approx(log_loss(y, p, labels=[0, 1, 2]), abs=1e-12)
    p2, y2 = _random_probs(seed, c=2, sharp=1.0)
    # sklearn's binary Brier scores only the positive class: half the sum-over-classes score
    assert brier_score(p2, y2) / 2 == pytest.approx(brier_score_loss(y2, p2[:, 1]), abs=1e-12)


def test_nll_eps_and_accuracy():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert negative_log_likelihood(p, [1, 0], eps=1e-12) == pytest.approx(
        (-math.log(1e-12) - math.log(0.5)) / 2)
    assert accuracy(p, [0, 0]) == 1.0  # argmax tie -> first class
    assert accuracy(np.array([2, 0, 1]), [2, 1, 1]) == pytest.approx(2 / 3)
    assert accuracy(np.array([2.0, 0.0]), np.array([2, 1])) == 0.5


# ------------------------------------------------------------------ robust accuracy

def test_robust_accuracy_by_hand():
    cp = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=bool)
    clean = np.array([True, True, True, False])
    assert robust_accuracy(cp, clean) == {"expected": pytest.approx(8 / 12), "worst": 0.25}
    assert robust_accuracy(cp) == {"expected": pytest.approx(8 / 12), "worst": 0.5}
    assert robust_accuracy([[0, 1]], [1]) == {"expected": 0.5, "worst": 0.0}


# ------------------------------------------------------------------ selective prediction

def test_risk_coverage_aurc_selective_by_hand():
    scores = np.array([0.4, 0.1, 0.3, 0.9, 0.2])
    correct = np.array([False, True, True, False, True])
    # keep order: idx 1 (ok), 4 (ok), 2 (ok), 0 (wrong), 3 (wrong)
    cov, risk = risk_coverage_curve(scores, correct)
    np.testing.assert_allclose(cov, [0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(risk, [0, 0, 0, 1 / 4, 2 / 5])
    assert aurc(scores, correct) == pytest.approx((0.25 + 0.4) / 5)
    assert excess_aurc(scores, correct) == pytest.approx(0.0, abs=1e-15)  # already the oracle
    assert selective_accuracy(scores, correct, coverage=0.8) == 0.75
    assert selective_accuracy(scores, correct, coverage=0.6) == 1.0
    assert selective_accuracy(scores, correct, coverage=0.5) == 1.0  # ceil(2.5) = 3 kept
    assert selective_accuracy(scores, correct, coverage=1.0) == 0.6


def test_ties_and_rounding_are_deterministic():
    # all scores tied: stable sort keeps input order
    _, risk = risk_coverage_curve(np.zeros(4), [False, True, True, True])
    np.testing.assert_allclose(risk, [1, 0.5, 1 / 3, 0.25])
    # 0.7 * 10 = 7.000000000000001 must keep 7 inputs, not 8
    correct = np.array([True] * 7 + [False] * 3)
    assert selective_accuracy(np.arange(10.0), correct, coverage=0.7) == 1.0
    assert selective_accuracy(np.arange(10.0), correct, coverage=1e-9) == 1.0  # at least one


@pytest.mark.parametrize("seed", range(3))
def test_selective_accuracy_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 5, 57).astype(float)
    correct = rng.random(57) < 0.7
    for coverage in (0.1, 0.33, 0.8, 1.0):
        keep = sorted(range(57), key=lambda i: (scores[i], i))[: math.ceil(coverage * 57)]
        assert selective_accuracy(scores, correct, coverage) == pytest.approx(correct[keep].mean())


def test_aurc_oracle_and_reverse():
    rng = np.random.default_rng(0)
    correct = rng.random(200) < 0.75
    wrong = ~correct
    e, n = int(wrong.sum()), 200
    oracle = sum(max(0, k - (n - e)) / k for k in range(1, n + 1)) / n
    assert aurc(wrong.astype(float), correct) == pytest.approx(oracle)
    assert excess_aurc(wrong.astype(float), correct) == pytest.approx(0.0, abs=1e-15)
    assert aurc(-wrong.astype(float), correct) > aurc(rng.random(200), correct) > oracle


# ------------------------------------------------------------------ PRR

def _prr_polygraph_style(estimator, target_quality, max_rejection=1.0, random_iter=None):
    """PRR as LM-Polygraph defines it, re-derived here independently: min–max normalised
    quality, areas under the kept-set mean-quality curve for the estimator, the oracle
    (estimator = -quality) and a random order (exact mean, or averaged shuffles)."""
    q = np.asarray(target_quality, dtype=float)
    q = (q - q.min()) / (q.max() - q.min())
    n = len(q)
    r = int(max_rejection * n)

    def area(est):
        kept_mean = [q[np.argsort(est, kind="stable")][:k].mean() for k in range(n - r + 1, n + 1)]
        return float(np.mean(kept_mean))

    if random_iter is None:
        rand = float(q.mean())
    else:
        rng = np.random.default_rng(42)
        rand = float(np.mean([area(rng.permutation(n)) for _ in range(random_iter)]))
    return (area(np.asarray(estimator)) - rand) / (area(-q) - rand)


def test_prr_by_hand():
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    errors = np.array([0, 1, 0, 1])
    # kept-set mean error for k = 1..4: scores -> 0, 1/2, 1/3, 1/2; oracle -> 0, 0, 1/3, 1/2
    a_unc, a_or, a_rand = (0 + 1 / 2 + 1 / 3 + 1 / 2) / 4, (0 + 0 + 1 / 3 + 1 / 2) / 4, 0.5
    expected = (a_rand - a_unc) / (a_rand - a_or)
    assert prediction_rejection_ratio(scores, errors) == pytest.approx(expected)
    assert expected == pytest.approx(4 / 7)
    # max_rejection = 0.5 -> R = 2, kept sizes k = 3, 4
    assert prediction_rejection_ratio(scores, errors, max_rejection=0.5) == pytest.approx(
        (0.5 - (1 / 3 + 1 / 2) / 2) / (0.5 - (1 / 3 + 1 / 2) / 2))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("max_rejection", [1.0, 0.5])
def test_prr_matches_polygraph_convention(seed, max_rejection):
    rng = np.random.default_rng(seed)
    n = 60
    loss = rng.random(n)  # a continuous quality loss, not just 0/1
    scores = loss + rng.normal(scale=0.3, size=n)
    ours = prediction_rejection_ratio(scores, loss, max_rejection)
    assert ours == pytest.approx(_prr_polygraph_style(scores, -loss, max_rejection), abs=1e-12)
    # LM-Polygraph's Monte-Carlo random baseline converges to the exact mean used here
    assert ours == pytest.approx(_prr_polygraph_style(scores, -loss, max_rejection, 300), abs=0.03)


def test_prr_properties():
    rng = np.random.default_rng(1)
    wrong = rng.random(300) < 0.3
    assert prediction_rejection_ratio(wrong.astype(float) + 0.01 * rng.random(300), wrong) == 1.0
    reverse = prediction_rejection_ratio(-wrong.astype(float), wrong)
    assert -1.6 < reverse < -0.5
    rand = np.mean([prediction_rejection_ratio(rng.random(300), wrong) for _ in range(30)])
    assert abs(rand) < 0.1
    assert np.isnan(prediction_rejection_ratio(rng.random(10), np.zeros(10)))  # all equal
    assert np.isnan(prediction_rejection_ratio(rng.random(10), wrong[:10], max_rejection=0.1))


# ------------------------------------------------------------------ AUROC

@pytest.mark.parametrize("seed", range(3))
def test_failure_auroc_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 8, 150).astype(float)
    wrong = rng.random(150) < 0.4
    assert failure_auroc(scores, wrong) == pytest.approx(roc_auc_score(wrong, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_ranks_of_a_resample_match_sklearn_and_scipy(seed):
    """The counted ranks the bootstrap uses (no sort per resample) give sklearn's AUROC and
    scipy's Spearman ρ on resamples with repeated items and tied scores."""
    from scipy.stats import spearmanr

    from sua.measures.ranking import TiedRanks, failure_auroc_ranked, spearman_ranked

    rng = np.random.default_rng(seed)
    scores, signal = rng.integers(0, 8, 150).astype(float), rng.integers(0, 5, 150).astype(float)
    wrong = rng.random(150) < 0.4
    ranked, signal_ranked = TiedRanks.of(scores), TiedRanks.of(signal)
    for idx in rng.integers(0, 150, size=(5, 150)):
        auroc = failure_auroc_ranked(ranked.average_ranks(idx), wrong[idx])
        assert auroc == pytest.approx(roc_auc_score(wrong[idx], scores[idx]), abs=1e-12)
        rho = spearman_ranked(ranked, signal_ranked, idx)
        assert rho == pytest.approx(spearmanr(scores[idx], signal[idx]).statistic, abs=1e-12)
    assert math.isnan(spearman_ranked(ranked, TiedRanks.of(np.ones(150)), np.arange(150)))


# ------------------------------------------------------------------ stateful == functional

def test_stateful_metrics_equal_functional_over_batches():
    p, y = _random_probs(5, n=300, c=3)
    rng = np.random.default_rng(5)
    scores, correct = rng.random(300), p.argmax(1) == y
    cp, cc = rng.random((300, 4)) < 0.7, rng.random(300) < 0.8
    ce, ceq = CalibrationError(), CalibrationError(n_bins=10, strategy="quantile")
    sa, ra, fa = SelectiveAccuracy(coverage=0.8), RobustAccuracy(), FailureAUROC()
    for part in np.array_split(np.arange(300), 4):
        ce.update(p[part], y[part])
        ceq.update_confidence(p[part].max(1), correct[part])
        sa.update(scores[part], correct[part])
        ra.update(cp[part], cc[part])
        fa.update(scores[part], ~correct[part])
    assert ce.compute() == expected_calibration_error(p, y)
    assert ceq.compute() == expected_calibration_error(p, y, n_bins=10, strategy="quantile")
    assert ce.bins().n == 300
    assert sa.compute() == selective_accuracy(scores, correct, 0.8)
    assert ra.compute() == robust_accuracy(cp, cc)
    assert fa.compute() == failure_auroc(scores, ~correct)
    for metric in (ce, sa, ra, fa):
        metric.reset()
        with pytest.raises(SUAInputError, match="before any update"):
            metric.compute()


def test_robust_accuracy_state_rules():
    ra = RobustAccuracy()
    ra.update([[True, False]])
    with pytest.raises(SUAInputError, match="every update or in none"):
        ra.update([[True, True]], [True])
    ra.update([[True, True, True]])
    with pytest.raises(SUAInputError, match="do not fit"):
        ra.compute()


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("call, match", [
    (lambda: accuracy(np.array([[0.5, 0.5]]), [2]), "out of range"),
    (lambda: accuracy(np.zeros((0, 2)), []), "empty"),
    (lambda: accuracy(np.array([0, 1]), [0]), "1 entries but there are 2"),
    (lambda: accuracy(np.ones((2, 2, 2)) / 2, [0, 1]), "shape"),
    (lambda: accuracy(np.array([[0.5, 0.6]]), [0]), "not normalised"),
    (lambda: accuracy(np.array([[np.nan, 0.5]]), [0]), "finite"),
    (lambda: accuracy(np.array([0.5, 1.0]), [0, 1]), "class index"),
    (lambda: expected_calibration_error(np.array([[0.5, 0.5]]), [0.5]), "class index"),
    (lambda: expected_calibration_error(np.array([[0.5, 0.5]]), [0], n_bins=0), "n_bins"),
    (lambda: expected_calibration_error(np.array([[0.5, 0.5]]), [0], strategy="x"), "strategy"),
    (lambda: calibration_error([1.2], [True]), r"not in \[0, 1\]"),
    (lambda: calibration_error([0.5], [np.nan]), "True/False"),
    (lambda: calibration_error([0.5, np.nan], [1, 0]), "finite"),
    (lambda: brier_score(np.array([0.5, 0.5]), [0]), r"\(N, C\)"),
    (lambda: negative_log_likelihood(np.array([[0.5, 0.5]]), [0], eps=0), "eps"),
    (lambda: selective_accuracy([0.1, 0.2], [1, 0], coverage=0), r"\(0, 1\]"),
    (lambda: selective_accuracy([0.1, 0.2], [1, 0], coverage=1.5), r"\(0, 1\]"),
    (lambda: selective_accuracy([0.1, 0.2], [1], coverage=0.5), "inputs"),
    (lambda: aurc([], []), "empty"),
    (lambda: aurc([[0.1]], [[1]]), "1-D"),
    (lambda: risk_coverage_curve([0.1, 0.2], [1, 2]), "True/False"),
    (lambda: prediction_rejection_ratio([0.1, np.nan], [0, 1]), "finite"),
    (lambda: prediction_rejection_ratio([0.1, 0.2], [0, 1], max_rejection=0), "max_rejection"),
    (lambda: robust_accuracy(np.ones(3, bool)), "2-D"),
    (lambda: robust_accuracy(np.ones((3, 0), bool)), "empty|K = 0"),
    (lambda: robust_accuracy(np.ones((3, 2), bool), [True]), "1 entries but there are 3"),
    (lambda: SelectiveAccuracy(coverage=-1), "coverage"),
    (lambda: CalibrationError(strategy="equal"), "strategy"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(SUAInputError, match=match):
        call()


# ------------------------------------------------------------------ score records

def _records():
    rng = np.random.default_rng(3)
    labels = ["neg", "pos", "neutral"]
    recs = []
    for i in range(40):
        logits = rng.normal(scale=2, size=3)
        p = np.exp(logits) / np.exp(logits).sum()
        label = labels[i % 3]
        pred = labels[int(p.argmax())]
        perts = []
        for k in range(2):
            q = np.roll(p, k) if rng.random() < 0.3 else p
            pert = {"text": "x", "kind": "typo", "family": "token", "params": {}, "divergence": 0.1,
                    "prediction": labels[int(q.argmax())], "probs": q.tolist()}
            if k == 1:
                pert["correct"] = pert["prediction"] == label  # the optional new field
            perts.append(pert)
        recs.append({"id": str(i), "label": label, "prediction": pred, "correct": pred == label,
                     "probs": p.tolist(), "entropy": float(-(p * np.log(p)).sum()),
                     "max_prob": float(p.max()), "sensitivity": float(rng.random()),
                     "sua": float(rng.normal()), "perturbations": perts})
    return recs, labels


def test_metrics_from_records_match_the_functions():
    recs, labels = _records()
    recs.append({**recs[0], "id": "unlabelled", "label": None, "correct": None})
    out = metrics_from_records(recs, labels=labels)
    recs = recs[:-1]
    p = np.array([r["probs"] for r in recs])
    y = np.array([labels.index(r["label"]) for r in recs])
    ok = np.array([r["correct"] for r in recs])
    cp = np.array([[pt["prediction"] == r["label"] for pt in r["perturbations"]] for r in recs])
    assert out["n"] == 40 and out["n_unlabelled"] == 1 and out["calibration_from"] == "probs"
    assert out["accuracy"] == accuracy(p, y)
    assert out["robust_accuracy"] == robust_accuracy(cp, ok)
    assert out["ece"]["uniform"] == pytest.approx(_torchmetrics_ece(p, y), abs=1e-6)
    assert out["ece"]["uniform"] == expected_calibration_error(p, y)
    assert out["ece"]["quantile"] == expected_calibration_error(p, y, strategy="quantile")
    assert out["brier"] == brier_score(p, y) and out["nll"] == negative_log_likelihood(p, y)
    assert set(out["failure"]) == set(FAILURE_SCORES)
    s = 1.0 - p.max(1)
    assert out["failure"]["1-max_prob"] == {
        "auroc": failure_auroc(s, ~ok), "aurc": aurc(s, ok),
        "selective_accuracy": selective_accuracy(s, ok, 0.8),
        "prr": prediction_rejection_ratio(s, ~ok)}


def test_metrics_from_records_without_class_labels_uses_max_prob():
    recs, _ = _records()
    for r in recs:  # QA-like: gold answers are spans, not classes
        r["label"] = "span " + r["label"]
    out = metrics_from_records(recs, labels=["neg", "pos", "neutral"],
                               scores=["sua"], coverage=0.5)
    conf, ok = [r["max_prob"] for r in recs], [r["correct"] for r in recs]
    assert out["calibration_from"] == "max_prob" and out["brier"] is None and out["nll"] is None
    assert out["ece"]["uniform"] == calibration_error(conf, ok)
    assert list(out["failure"]) == ["sua"]
    assert out["failure"]["sua"]["selective_accuracy"] == selective_accuracy(
        [r["sua"] for r in recs], ok, 0.5)
    assert metrics_from_records(recs)["calibration_from"] == "max_prob"


def test_metrics_from_records_bad_input():
    recs, labels = _records()
    with pytest.raises(SUAInputError, match="no records"):
        metrics_from_records([])
    with pytest.raises(SUAInputError, match="gold label"):
        metrics_from_records([{**recs[0], "correct": None}])
    with pytest.raises(SUAInputError, match="same number K"):
        metrics_from_records([recs[0], {**recs[1], "perturbations": recs[1]["perturbations"][:1]}])
    with pytest.raises(SUAInputError, match="has no field 'max_prob'"):
        metrics_from_records([{k: v for k, v in recs[0].items() if k != "max_prob"}])
    with pytest.raises(SUAInputError, match="unknown failure score 'x'"):
        metrics_from_records(recs, scores=["x"])
    with pytest.raises(SUAInputError, match="rows have different lengths"):
        brier_score([[0.5, 0.5], [1.0]], [0, 0])


def test_metrics_from_records_accepts_score_record_objects():
    from sua.records import PerturbationResult
    from sua.scoring import ScoreRecord

    recs, labels = _records()
    objs = []
    for r in recs[:10]:
        perts = [PerturbationResult(text="x", kind="typo", family="token", params={}, divergence=0.1,
                                    prediction=p["prediction"], probs=p["probs"])
                 for p in r["perturbations"]]
        objs.append(ScoreRecord(id=r["id"], prediction=r["prediction"], probs=r["probs"],
                                entropy=r["entropy"], max_prob=r["max_prob"], confidence=0.5,
                                sensitivity=r["sensitivity"], sensitivity_worst=0.0, sua=r["sua"],
                                ambiguity=0.0, signature="ok", label=r["label"], correct=r["correct"],
                                perturbations=perts))
    assert metrics_from_records(objs, labels=labels) == metrics_from_records(recs[:10], labels=labels)


def test_metrics_from_records_generative_rewrites_have_no_robust_accuracy():
    """Generative rewrites carry samples, not a graded answer: robust accuracy is unknown, not
    1.0 (comparing a missing prediction with a missing label used to count as correct)."""
    recs, _ = _records()
    for r in recs:
        r["perturbations"] = [{"text": "x", "samples": ["a"], "probs": [1.0], "divergence": 0.0}] * 2
        r.pop("label")
    out = metrics_from_records(recs)
    assert out["accuracy"] < 1.0 and out["robust_accuracy"] is None


def test_one_coverage_cut_for_metrics_and_thresholds():
    """selective_accuracy keeps the k = coverage_count lowest scores in kept_order; the
    threshold a policy applies is the k-th of them, and it covers every tie of that score."""
    s = np.array([0.5, 0.2, 0.2, 0.9, 0.2, 0.1, 0.7, 0.3, 0.2, 0.4])
    ok = np.array([1, 0, 1, 0, 1, 1, 0, 1, 1, 0], dtype=bool)
    for coverage in (0.1, 0.3, 0.35, 0.7, 1.0):
        k = coverage_count(coverage, len(s))
        assert k == max(1, math.ceil(round(coverage * len(s), 9)))
        kept = kept_order(s)[:k]
        assert selective_accuracy(s, ok, coverage) == ok[kept].mean()
        tau = coverage_threshold(s, coverage)
        assert tau == s[kept].max() and (s <= tau).sum() >= k
    assert coverage_count(0.7, 10) == 7  # 0.7 * 10 = 7.000000000000001


def test_failure_score_registry_reads_record_columns():
    cols = {"sua": [0.1, -0.2], "sensitivity": [0.3, 0.0], "entropy": [0.2, 0.2], "max_prob": [0.9, 0.5]}
    assert failure_score("1-max_prob", cols).tolist() == pytest.approx([0.1, 0.5])
    assert failure_score("sua", cols).tolist() == [0.1, -0.2]
    with pytest.raises(SUAInputError, match="needs the column"):
        failure_score("entropy", {"sua": [0.1]})
    with pytest.raises(SUAInputError, match="unknown failure score"):
        failure_score("nope", cols)
