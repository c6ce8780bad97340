"""Failure AUROC against sklearn, and the summary over score records."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sua.errors import SUAInputError
from sua.eval.summary import format_summary, summarize_records
from sua.measures import failure_auroc


@pytest.mark.parametrize("seed", range(5))
def test_failure_auroc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=200).astype(float)  # many ties
    wrong = rng.random(200) < 0.3
    assert failure_auroc(scores, wrong) == pytest.approx(roc_auc_score(wrong, scores), abs=1e-12)


def test_failure_auroc_edge_cases():
    assert np.isnan(failure_auroc(np.array([0.1, 0.2]), np.array([True, True])))
    with pytest.raises(SUAInputError, match="equal length"):
        failure_auroc(np.array([0.1, 0.2]), np.array([True]))
    with pytest.raises(SUAInputError, match="NaN"):
        failure_auroc(np.array([np.nan, 0.2]), np.array([True, False]))


def test_summary_by_hand():
    recs = [
        {"id": "a", "sensitivity": 0.2, "entropy": 0.1, "sua": 0.1, "max_prob": 0.9,
         "signature": "sensitivity_failure", "correct": False},
        {"id": "b", "sensitivity": 0.0, "entropy": 0.5, "sua": -0.5, "max_prob": 0.6,
         "signature": "epistemic", "correct": True},
    ]
    s = summarize_records(recs)
    assert s["n"] == 2 and s["accuracy"] == 0.5
    assert s["mean_sensitivity"] == pytest.approx(0.1)
    assert s["sua_risk"] == pytest.approx(0.05)
    assert s["signatures"]["sensitivity_failure"] == 0.5
    assert s["signatures"]["aligned"] == 0.0
    assert s["failure_auroc"]["sua"] == 1.0 and s["failure_auroc"]["entropy"] == 0.0
    assert "accuracy" in format_summary(s)
    with pytest.raises(SUAInputError, match="not a score record"):
        summarize_records([{"id": "x"}])
    with pytest.raises(SUAInputError, match="no records"):
        summarize_records([])


def test_reading_names_the_best_score_and_its_lead():
    from sua.eval.summary import reading

    summary = {"failure_auroc": {"sua": 0.40, "sensitivity": 0.55, "entropy": 0.71, "1-max_prob": 0.69}}
    assert reading(summary) == ("reading: entropy ranks failures best (AUROC 0.710, +0.020 over 1-max_prob; "
                                "0.5 is chance); SUA scores 0.400.")
    summary["failure_auroc"] = {"sua": 0.45, "entropy": 0.5}
    assert reading(summary).startswith("reading: no score ranks failures better than chance")
    assert reading({"n": 3}).startswith("reading: no gold labels")
    assert format_summary({**summary, "n": 3, "mean_sensitivity": 0.0, "mean_entropy": 0.0, "mean_sua": 0.0,
                           "sua_risk": 0.0, "signatures": {}}).splitlines()[-1] == reading(summary)


def test_the_demo_prints_scores_best_first_and_survives_unlabelled_data():
    from sua.eval.demo import format_demo
    from sua.eval.summary import reading

    files = {"records": "r.jsonl", "explorer": "r.explorer.html", "lam": 1.0, "n": 5}
    aurocs = {"sua": 0.40, "sensitivity": 0.55, "entropy": 0.71, "1-max_prob": float("nan")}
    summary = {**files, "accuracy": 0.8, "failure_auroc": aurocs}
    lines = format_demo(summary).splitlines()
    assert lines[0] == "accuracy on 5 held-out pairs: 0.800"
    assert [line.split()[0] for line in lines[2:6]] == ["entropy", "sensitivity", "sua", "1-max_prob"]
    assert lines[4].endswith("<- the paper's SUA = S - 1·H") and lines[6] == reading(summary)
    summary |= {"accuracy_ci": [0.75, 0.85], "failure_auroc_ci": {"entropy": [0.6, 0.8]}}
    lines = format_demo(summary).splitlines()
    assert lines[0] == "accuracy on 5 held-out pairs: 0.800 [0.750, 0.850] (95 % interval)"
    assert lines[2].split() == ["entropy", "0.710", "[0.600,", "0.800]"]
    assert format_demo(files).splitlines() == [reading(files), "records:  r.jsonl",
                                               "explorer: r.explorer.html  (open it in a browser: "
                                               "every input, its rewrites, S and H)"]


def _labelled_records(n: int, informative: bool, seed: int = 0) -> list[dict]:
    """Score records where entropy separates wrong from right (``informative``) or is noise."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(n) < 0.3
    h = rng.random(n) + (0.6 * wrong if informative else 0.0)
    s = rng.random(n)
    return [{"id": i, "sensitivity": float(s[i]), "entropy": float(h[i]), "sua": float(s[i] - h[i]),
             "max_prob": float(rng.random()), "signature": "epistemic", "correct": not bool(wrong[i])}
            for i in range(n)]


def test_intervals_match_scipy_bootstrap_and_the_reading_says_whether_the_lead_is_real():
    from scipy.stats import bootstrap as scipy_bootstrap
    from sklearn.metrics import roc_auc_score

    from sua.eval.summary import reading

    recs = _labelled_records(600, informative=True)
    s = summarize_records(recs)
    right = np.array([r["correct"] for r in recs], dtype=float)
    h = np.array([r["entropy"] for r in recs])
    ref = scipy_bootstrap((right,), np.mean, n_resamples=4000, method="percentile", random_state=1)
    ci = ref.confidence_interval
    assert s["accuracy_ci"] == pytest.approx([ci.low, ci.high], abs=0.01)
    ref_auc = scipy_bootstrap((1 - right, h), lambda w, x: roc_auc_score(w, x), paired=True, vectorized=False,
                              n_resamples=1000, method="percentile", random_state=1)
    low, high = s["failure_auroc_ci"]["entropy"]
    ci = ref_auc.confidence_interval
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=0.015)
    assert low < s["failure_auroc"]["entropy"] < high
    assert s["lead"]["best"] == "entropy" and s["lead"]["ci"][0] > 0
    assert "a real lead" in reading(s)
    noise = summarize_records(_labelled_records(600, informative=False))
    assert noise["lead"]["ci"][0] < 0 < noise["lead"]["ci"][1]
    assert "within sampling noise" in reading(noise) or "better than chance" in reading(noise)
