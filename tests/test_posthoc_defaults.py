"""Post-hoc objects meet scikit-learn (clone, label names) and the abstention default follows the
evidence: entropy, with a warning when a chosen score ranks failures backwards."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from sua.errors import SUAInputError
from sua.selective import AbstentionPolicy, TemperatureScaler, fit_policy_file

LABELS = ["entailment", "neutral", "contradiction"]


def backwards_records(n: int = 400, seed: int = 0) -> list[dict]:
    """Failures have high entropy and low S (as on the real runs in docs/results): entropy
    ranks them well, SUA at λ = 1 (S - H) ranks them backwards."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(n) < 0.3
    h = np.where(wrong, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.7, n))
    s = rng.uniform(0.0, 0.05, n)
    return [{"id": f"x{i}", "sensitivity": float(s[i]), "entropy": float(h[i]),
             "correct": not bool(wrong[i])} for i in range(n)]


@pytest.mark.parametrize("make", [
    lambda: AbstentionPolicy(),
    lambda: AbstentionPolicy("combined", lam="select", n_grid=7, lam_grid=[0.0, 0.5, 2.0]),
    lambda: TemperatureScaler(),
    lambda: TemperatureScaler(max_iter=20, classes=LABELS),
])
def test_sklearn_clone_gives_an_unfitted_equal_object(make):
    original = make()
    copy = clone(original)
    assert type(copy) is type(original) and copy is not original
    assert copy.get_params() == original.get_params()


def test_clone_of_a_fitted_policy_is_unfitted():
    policy = AbstentionPolicy().fit(backwards_records(), target_coverage=0.8)
    copy = clone(policy)
    assert not hasattr(copy, "thresholds_")
    assert copy.fit(backwards_records(), target_coverage=0.8).thresholds_ == policy.thresholds_


def test_temperature_scaler_takes_label_names():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 3, 300)
    logits = 6.0 * np.eye(3)[ids] + rng.normal(0, 3, (300, 3))
    by_id = TemperatureScaler().fit(logits, ids)
    by_name = TemperatureScaler(classes=LABELS).fit(logits, [LABELS[i] for i in ids])
    assert by_name.temperature_ == by_id.temperature_
    with pytest.raises(SUAInputError, match="classes"):
        TemperatureScaler().fit(logits, [LABELS[i] for i in ids])
    with pytest.raises(SUAInputError, match="not among classes"):
        TemperatureScaler(classes=LABELS).fit(logits[:2], ["entailment", "maybe"])


def test_default_score_is_entropy_and_sua_warns_when_it_ranks_failures_backwards():
    recs = backwards_records()
    wrong = np.array([not r["correct"] for r in recs])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default must not warn on these records
        default = AbstentionPolicy().fit(recs, target_coverage=0.8)
    assert default.score == "entropy"
    h = np.array([r["entropy"] for r in recs])
    assert default.fit_report_["failure_auroc"]["entropy"] == pytest.approx(roc_auc_score(wrong, h))
    with pytest.warns(UserWarning, match="ranks failures backwards"):
        sua = AbstentionPolicy("sua", lam=1.0).fit(recs, target_coverage=0.8)
    s = np.array([r["sensitivity"] for r in recs])
    assert sua.fit_report_["failure_auroc"]["sua"] == pytest.approx(roc_auc_score(wrong, s - h))
    assert sua.fit_report_["failure_auroc"]["sua"] < 0.5
    # entropy abstains on more of the failures than SUA at the same coverage
    assert wrong[default.predict(recs)].mean() > wrong[sua.predict(recs)].mean()


def test_abstain_fit_file_defaults_to_entropy(tmp_path):
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps(r) + "\n" for r in backwards_records()))
    policy = fit_policy_file(scores, tmp_path / "policy.json", target_coverage=0.8)
    assert policy.score == "entropy" and set(policy.thresholds_) == {"entropy"}
