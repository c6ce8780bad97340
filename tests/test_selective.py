"""sua.selective: abstention policy (coverage and certified-risk targets), λ selection, and
the Section 4 checks, on synthetic records with known answers."""

from __future__ import annotations

import json
import math
import pickle
import warnings

import numpy as np
import pytest

from sua.errors import SUAInputError
from sua.measures import divergence, entropy, sensitivity, signature
from sua.scoring import meta_path_for
from sua.selective import (
    AbstentionPolicy,
    BoundsGrid,
    apply_policy_file,
    bounds_report,
    certify_fixed_sequence,
    check_bounds,
    clopper_pearson_upper,
    corollary_4_4,
    coverage_threshold,
    fit_policy_file,
    lemma_4_6,
    lemma_4_7,
    proposition_4_8,
    select_lambda,
    theorem_4_5_table,
)

LABELS = ["entailment", "neutral", "contradiction"]


def light_records(rng: np.random.Generator, n: int, lam_true: float = 0.5) -> list[dict]:
    """Records with S, H and a failure probability that grows with S - lam_true·H."""
    s = rng.beta(1.0, 5.0, n)
    h = rng.gamma(2.0, 0.2, n)
    p_wrong = 1.0 / (1.0 + np.exp(-(8.0 * (s - lam_true * h) - 0.5)))
    wrong = rng.random(n) < p_wrong
    sig = signature(s, h)
    return [{"id": f"x{i}", "prediction": "entailment", "label": "entailment",
             "correct": not bool(wrong[i]), "sensitivity": float(s[i]), "entropy": float(h[i]),
             "signature": str(sig[i])} for i in range(n)]


def full_records(rng: np.random.Generator, n: int, k: int = 4, lam: float = 1.0) -> list[dict]:
    """Records shaped like `sua score` output, probs included, some without a label."""
    p = rng.dirichlet(np.full(3, 0.6), n)
    pp = np.clip(p[:, None, :] + rng.normal(0, 0.1, (n, k, 3)), 1e-6, None)
    pp /= pp.sum(-1, keepdims=True)
    sens = sensitivity(p, pp)
    h = entropy(p)
    y = np.where(rng.random(n) < 0.7, p.argmax(1), rng.integers(0, 3, n))
    out = []
    for i in range(n):
        label = None if i % 10 == 9 else LABELS[y[i]]
        pred = LABELS[int(p[i].argmax())]
        out.append({
            "id": f"r{i}", "label": label, "prediction": pred,
            "correct": None if label is None else label == pred,
            "probs": p[i].tolist(), "entropy": float(h[i]), "max_prob": float(p[i].max()),
            "confidence": 0.0, "sensitivity": float(sens.expected[i]),
            "sensitivity_worst": float(sens.worst[i]),
            "sua": float(sens.expected[i] - lam * h[i]), "ambiguity": 0.0,
            "signature": str(signature(sens.expected[i:i + 1], h[i:i + 1])[0]),
            "perturbations": [{"text": "t", "kind": "token", "family": "token", "params": {},
                               "divergence": float(sens.per_perturbation[i, j]),
                               "prediction": LABELS[int(pp[i, j].argmax())],
                               "probs": pp[i, j].tolist()} for j in range(k)],
        })
    return out


def write_scores(path, records, lam: float = 1.0) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    meta_path_for(path).write_text(json.dumps(
        {"config": {"labels": LABELS, "lam": lam, "divergence": "jsd"}}), encoding="utf-8")


# -- thresholds and certificates -------------------------------------------------------


def test_coverage_threshold_is_the_empirical_quantile():
    s = np.array([0.5, 0.1, 0.4, 0.2, 0.3])
    assert coverage_threshold(s, 0.6) == 0.3
    assert coverage_threshold(s, 0.61) == 0.4
    assert coverage_threshold(s, 1.0) == 0.5
    assert coverage_threshold(s, 0.01) == 0.1


def test_clopper_pearson_closed_forms_and_coverage():
    n = np.array([1, 10, 100])
    assert np.allclose(clopper_pearson_upper(0, n, 0.05), 1 - 0.05 ** (1 / n))
    assert clopper_pearson_upper(7, 7, 0.05) == 1.0
    assert clopper_pearson_upper(0, 0, 0.05) == 1.0
    # the bound covers the true rate in at least 1 - delta of binomial draws
    rng = np.random.default_rng(0)
    k = rng.binomial(50, 0.2, size=4000)
    assert (clopper_pearson_upper(k, 50, 0.1) >= 0.2).mean() >= 0.9


def test_fixed_sequence_stops_at_first_failure():
    wrong = np.array([False] * 90 + [True] * 10)
    # candidate 1 covers only errors: it fails, so candidate 2 is never certified
    covered = np.zeros((3, 100), dtype=bool)
    covered[0, :60] = True
    covered[1, 85:] = True
    covered[2, :80] = True
    cert = certify_fixed_sequence(covered, wrong, target_risk=0.1, delta=0.05)
    assert cert.index == 0
    assert cert.n_covered.tolist() == [60, 15, 80] and cert.n_errors.tolist() == [0, 10, 0]
    assert cert.upper_bounds[1] > 0.1 >= cert.upper_bounds[2]
    first_fails = certify_fixed_sequence(covered[[1, 0, 2]], wrong, 0.1, 0.05)
    assert first_fails.index == -1


@pytest.mark.parametrize("score", ["sua", "entropy", "combined"])
def test_coverage_target_holds_on_held_out_data(score):
    rng = np.random.default_rng(1)
    fit, held_out = light_records(rng, 2000), light_records(rng, 2000)
    target = 0.8
    policy = AbstentionPolicy(score=score, lam=0.5).fit(fit, target_coverage=target)
    fit_cov = 1 - policy.predict(fit).mean()
    assert target <= fit_cov == policy.fit_report_["coverage"]
    test_cov = 1 - policy.predict(held_out).mean()
    sampling = 3 * math.sqrt(target * (1 - target) * (1 / 2000 + 1 / 2000))
    assert test_cov >= target - sampling
    if score != "combined":  # the single-score quantile is exact on continuous scores
        assert fit_cov < target + 1 / 2000 + 1e-12
        assert abs(test_cov - target) <= sampling


def test_combined_is_at_least_as_accurate_as_either_score_at_the_same_coverage():
    recs = light_records(np.random.default_rng(2), 1500)
    right = np.array([r["correct"] for r in recs])

    def accuracy(policy):
        return right[~policy.predict(recs)].mean()

    combined = AbstentionPolicy("combined", lam=0.5, n_grid=21).fit(recs, target_coverage=0.7)
    assert set(combined.thresholds_) == {"sua", "entropy"}
    assert combined.fit_report_["coverage"] >= 0.7
    for score in ("sua", "entropy"):
        single = AbstentionPolicy(score, lam=0.5).fit(recs, target_coverage=0.7)
        assert accuracy(combined) >= accuracy(single) - 1e-12
    # and its abstentions are exactly the rule "SUA > τ₁ or H > τ₂"
    s = np.array([r["sensitivity"] - 0.5 * r["entropy"] for r in recs])
    h = np.array([r["entropy"] for r in recs])
    t = combined.thresholds_
    assert np.array_equal(combined.predict(recs), (s > t["sua"]) | (h > t["entropy"]))


def test_risk_target_guarantee_holds_over_many_draws():
    """Known model: score ~ U(0,1), P(wrong | score) = 0.3·score, so the selective risk of
    "answer when score <= τ" is 0.15·τ. Over 200 fits the certified threshold may exceed the
    true risk target in at most δ of them; the plug-in threshold does far more often."""
    rng = np.random.default_rng(3)
    target, delta, n, draws = 0.08, 0.1, 1000, 200
    violations, naive_violations, coverages = 0, 0, []
    for _ in range(draws):
        score = rng.random(n)
        wrong = rng.random(n) < 0.3 * score
        recs = [{"sensitivity": 0.0, "entropy": float(a), "correct": not bool(w)}
                for a, w in zip(score, wrong, strict=True)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            policy = AbstentionPolicy("entropy").fit(recs, target_risk=target, delta=delta)
        tau = float(np.clip(policy.thresholds_["entropy"], 0.0, 1.0))
        violations += 0.15 * tau > target
        coverages.append(tau)
        order = np.argsort(score)
        running = np.cumsum(wrong[order]) / np.arange(1, n + 1)
        naive_tau = score[order][np.flatnonzero(running <= target)[-1]]
        naive_violations += 0.15 * naive_tau > target
    assert violations <= delta * draws
    assert naive_violations > delta * draws  # the simulation can tell a guarantee from none
    assert np.mean(coverages) > 0.25  # and the certified policy is not vacuous (best: 0.53)


def test_combined_risk_target_follows_the_joint_coverage_path():
    """SUA ≈ -H here, so "SUA <= τ₁ and H <= τ₂" is a band of H, empty if both thresholds sat
    at one marginal quantile below 1/2; errors are rarest mid-band (risk 0.05 + 0.15·width)."""
    rng = np.random.default_rng(15)
    h = rng.random(3000)
    wrong = rng.random(3000) < 0.05 + 0.6 * np.abs(h - 0.5)
    recs = [{"sensitivity": 0.01 * b, "entropy": a, "correct": not w}
            for a, b, w in zip(h, rng.random(3000), wrong, strict=True)]
    policy = AbstentionPolicy("combined", lam=1.0, n_grid=20).fit(recs, target_risk=0.15)
    report = policy.fit_report_
    assert report["certified"] and report["candidates_tested"] >= 2
    assert report["selective_risk"] <= report["risk_upper_bound"] <= 0.15
    assert 0.3 <= report["coverage"] <= 0.7  # the best possible band is 0.67 wide
    everything = AbstentionPolicy("combined", n_grid=10).fit(recs, target_risk=1.0)
    assert everything.fit_report_["coverage"] == 1.0


def test_uncertifiable_target_abstains_everywhere_and_warns():
    recs = light_records(np.random.default_rng(4), 200)
    with pytest.warns(UserWarning, match="no threshold certifies"):
        policy = AbstentionPolicy("sua").fit(recs, target_risk=0.001)
    assert policy.predict(recs).all()
    assert policy.fit_report_["certified"] is False
    restored = AbstentionPolicy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert restored.thresholds_ == {"sua": -math.inf}


# -- λ selection -----------------------------------------------------------------------


@pytest.mark.parametrize("criterion", ["auroc", "selective_risk"])
def test_select_lambda_finds_the_known_best(criterion):
    """Failures are exactly the inputs with S - 0.5·H > 0: only λ = 0.5 ranks them perfectly."""
    rng = np.random.default_rng(5)
    s, h = rng.random(1000), rng.random(1000)
    wrong = s - 0.5 * h > 0
    recs = [{"sensitivity": a, "entropy": b, "correct": not w}
            for a, b, w in zip(s, h, wrong, strict=True)]
    grid = [0.0, 0.25, 0.5, 1.0, 2.0]
    sel = select_lambda(recs, grid=grid, criterion=criterion, coverage=float(1 - wrong.mean()))
    assert sel.lam == 0.5
    assert [row["lam"] for row in sel.table] == grid
    best = sel.table[2]
    assert best["auroc"] == 1.0 and best["selective_risk"] == 0.0
    assert all(row["auroc"] < 1.0 and row["selective_risk"] > 0.0
               for i, row in enumerate(sel.table) if i != 2)


def test_policy_selects_lambda_when_asked():
    recs = light_records(np.random.default_rng(6), 800, lam_true=1.5)
    policy = AbstentionPolicy("sua", lam="select").fit(recs, target_coverage=0.8)
    sel = select_lambda(recs)
    assert policy.lam_ == sel.lam
    assert policy.fit_report_["lambda_selection"]["table"] == sel.table


# -- the policy object -----------------------------------------------------------------


def test_policy_pickles_and_round_trips_through_json(tmp_path):
    recs = light_records(np.random.default_rng(7), 500)
    policy = AbstentionPolicy("combined", lam=0.7, n_grid=11).fit(recs, target_coverage=0.8)
    clone = pickle.loads(pickle.dumps(policy))
    loaded = AbstentionPolicy.load(policy.save(tmp_path / "p" / "policy.json"))
    for other in (clone, loaded):
        assert other.get_params() == policy.get_params()
        assert other.thresholds_ == policy.thresholds_ and other.lam_ == policy.lam_
        assert np.array_equal(other.decision_function(recs), policy.decision_function(recs))
    assert AbstentionPolicy(**policy.get_params()).get_params() == policy.get_params()
    assert policy.set_params(lam=0.2).lam == 0.2


def test_explanations_carry_the_signature_and_the_numbers():
    recs = light_records(np.random.default_rng(8), 300)
    policy = AbstentionPolicy("sua", lam=0.5).fit(recs, target_coverage=0.9)
    decisions = policy.explain(recs)
    abstain = policy.predict(recs)
    tau = policy.thresholds_["sua"]
    assert [d["abstain"] for d in decisions] == abstain.tolist()
    for rec, d in zip(recs, decisions, strict=True):
        assert d["id"] == rec["id"] and d["signature"] == rec["signature"]
        assert d["sua"] == pytest.approx(rec["sensitivity"] - 0.5 * rec["entropy"])
        assert d["thresholds"] == {"sua": tau} and d["lam"] == 0.5
        assert d["reason"].startswith("abstain" if d["abstain"] else "answer")
        assert ("> τ" in d["reason"]) == d["abstain"]
        assert rec["signature"] in d["reason"]


@pytest.mark.parametrize("kwargs, match", [
    ({"target_coverage": 0.0}, r"target_coverage must be a number in \(0, 1\]"),
    ({"target_coverage": 1.5}, r"target_coverage must be a number in \(0, 1\]"),
    ({"target_risk": 0.0}, r"target_risk must be a number in \(0, 1\]"),
    ({}, "exactly one of target_coverage and target_risk"),
    ({"target_coverage": 0.8, "target_risk": 0.1}, "exactly one of"),
    ({"target_risk": 0.1, "delta": 1.0}, r"delta must be a number in \(0, 1\)"),
])
def test_bad_fit_arguments(kwargs, match):
    recs = light_records(np.random.default_rng(9), 50)
    with pytest.raises(SUAInputError, match=match):
        AbstentionPolicy().fit(recs, **kwargs)


def test_bad_records_and_parameters():
    with pytest.raises(SUAInputError, match="no records"):
        AbstentionPolicy().fit([], target_coverage=0.8)
    with pytest.raises(SUAInputError, match="record 'a' has no field 'sensitivity'"):
        AbstentionPolicy().fit([{"id": "a", "entropy": 0.1}], target_coverage=0.8)
    with pytest.raises(SUAInputError, match="entropy must be a finite number, got nan"):
        AbstentionPolicy().fit([{"id": "a", "sensitivity": 0.1, "entropy": float("nan")}],
                               target_coverage=0.8)
    unlabelled = [{"id": "a", "sensitivity": 0.1, "entropy": 0.1, "correct": None}]
    with pytest.raises(SUAInputError, match="a target risk needs gold labels"):
        AbstentionPolicy().fit(unlabelled, target_risk=0.1)
    with pytest.raises(SUAInputError, match="the combined score needs gold labels"):
        AbstentionPolicy("combined").fit(unlabelled, target_coverage=0.8)
    with pytest.raises(SUAInputError, match="score must be one of"):
        AbstentionPolicy("margin")
    with pytest.raises(SUAInputError, match="lam must be a finite number >= 0 or 'select'"):
        AbstentionPolicy(lam=-1)
    with pytest.raises(SUAInputError, match="unknown parameters"):
        AbstentionPolicy().set_params(tau=1)
    with pytest.raises(SUAInputError, match="not fitted"):
        AbstentionPolicy().predict(unlabelled)
    with pytest.raises(SUAInputError, match="not a saved AbstentionPolicy"):
        AbstentionPolicy.from_dict({"format": "other"})
    with pytest.raises(SUAInputError, match="criterion must be one of"):
        select_lambda(unlabelled, criterion="accuracy")
    with pytest.raises(SUAInputError, match="needs both right and wrong"):
        select_lambda([{"sensitivity": 0.1, "entropy": 0.1, "correct": True}] * 3)


# -- Section 4 checks ------------------------------------------------------------------


def random_case(rng: np.random.Generator):
    n, k, c = rng.integers(1, 30), rng.integers(1, 9), rng.integers(2, 11)
    alpha = rng.choice([0.05, 0.3, 1.0, 5.0])
    p = rng.dirichlet(np.full(c, alpha), n)
    pp = rng.dirichlet(np.full(c, alpha), (n, k))
    if rng.random() < 0.5:  # perturbations near the clean prediction, as in real runs
        pp = 0.7 * p[:, None, :] + 0.3 * pp
    return p, pp, rng.integers(0, c, n)


def test_corollary_4_4_by_hand_is_tight():
    # a confident clean answer flipped by the rewrite: R = 0, R' = 1, TV = 1, H = 0
    bound = corollary_4_4(np.array([[1.0, 0.0]]), np.array([[[0.0, 1.0]]]), np.array([0]))
    for form in (bound.expected, bound.worst):
        assert form.lhs == 1.0 and form.rhs == 1.0 and form.slack == 0.0 and form.holds
        assert form.terms == {"clean_risk": 0.0, "lam_mean_entropy": 0.0, "sua_risk": 1.0}


def test_corollary_4_4_never_fails_on_random_distributions():
    rng = np.random.default_rng(10)
    for _ in range(300):
        p, pp, y = random_case(rng)
        lam = float(rng.choice([0.0, rng.uniform(0, 3)]))
        bound = corollary_4_4(p, pp, y, lam)
        assert bound.expected.holds and bound.worst.holds, (bound, lam)
        assert bound.worst.lhs >= bound.expected.lhs - 1e-12
        # the right-hand side is built from TV, not from the records' JSD
        tv = divergence(p[:, None, :], pp, "tv").mean(1)
        sua_risk = np.maximum(tv - lam * entropy(p), 0).mean()
        assert bound.expected.terms["sua_risk"] == pytest.approx(sua_risk)


def test_proposition_4_8_never_fails_on_random_distributions():
    rng = np.random.default_rng(11)
    for _ in range(200):
        p, pp, y = random_case(rng)
        lam = float(rng.uniform(0, 2))
        taus = np.sort(rng.uniform(-2, 1, 5))
        rows = proposition_4_8(p, pp, y, lam, taus)
        assert [r.coverage for r in rows] == sorted(r.coverage for r in rows)
        for row in rows:
            assert (row.bound is None) == (row.n_covered == 0)
            assert row.bound is None or row.bound.holds, row
    default = proposition_4_8(p, pp, y, lam)
    assert default[-1].coverage == 1.0


@pytest.mark.parametrize("kind", ["jsd", "tv", "kl", "hellinger"])
def test_lemma_4_7_smoothing_lowers_the_divergence_of_every_pair(kind):
    rng = np.random.default_rng(12)
    gammas = (0.0, 0.1, 0.3, 0.6, 1.0)
    for _ in range(100):
        p, pp, y = random_case(rng)
        p, pp, y = p[:1], pp[:1, :1], y[:1]  # one clean/perturbed pair
        rows = lemma_4_7(p, pp, y, gammas, divergence=kind)
        d = [r.divergence for r in rows]
        assert all(a >= b - 1e-12 for a, b in zip(d, d[1:], strict=False)), d
        assert all(r.divergence <= r.divergence_bound + 1e-12 for r in rows)
        assert rows[-1].divergence == pytest.approx(0.0, abs=1e-12)
        # R_γ = R_0 + γ (p(y|x) - 1/C): it rises exactly when the model beats chance
        c, py = p.shape[1], p[0, y[0]]
        assert [r.risk for r in rows] == pytest.approx(
            [1 - py + g * (py - 1 / c) for g in gammas])


def test_theorem_4_5_table_by_hand():
    p = np.array([[0.95, 0.05], [0.97, 0.03], [0.55, 0.45], [0.6, 0.4]])
    y = np.array([0, 1, 0, 1])
    rows = theorem_4_5_table(p, y, np.array([0.1, 0.3, 0.0, 0.2]), n_bins=10)
    assert [(r.lower, r.upper, r.count) for r in rows] == [(0.5, 0.6, 1), (0.6, 0.7, 1),
                                                         (0.9, 1.0, 2)]
    top = rows[-1]
    assert top.mean_confidence == pytest.approx(0.96) and top.accuracy == 0.5
    assert top.gap == pytest.approx(0.46) and top.mean_sensitivity == pytest.approx(0.2)
    assert top.mean_entropy == pytest.approx(entropy(p[:2]).mean())
    assert sum(r.count for r in theorem_4_5_table(p, y, np.zeros(4))) == 4


def test_lemma_4_6_by_hand():
    h_true = np.array([0.7, 0.2, 1.0])
    ambiguity = np.array([np.log(2), np.log(2), 0.0])
    h_model = np.array([0.1, 0.1, 0.5])
    check = lemma_4_6(h_true, ambiguity, h_model)
    slack = h_true - ambiguity  # Δ - (A - H) = H* - A: the model's entropy cancels
    assert check.n == 3 and check.share_holds == pytest.approx(2 / 3)
    assert check.mean_slack == pytest.approx(slack.mean())
    assert check.min_slack == pytest.approx(slack.min())
    assert check.mean_gap == pytest.approx((h_true - h_model).mean())


def test_check_bounds_on_a_scores_file(tmp_path):
    rng = np.random.default_rng(13)
    recs = full_records(rng, 120)
    path = tmp_path / "scores.jsonl"
    write_scores(path, recs, lam=0.8)
    items = tmp_path / "items.jsonl"
    dists = [{"id": r["id"], "crowd_label_dist": {"entailment": 0.5, "neutral": 0.5},
              "label_dist": {"entailment": 0.5, "neutral": 0.5, "contradiction": 0.0}}
             for r in recs[:30]] + [{"id": "absent", "crowd_label_dist": {"neutral": 1.0}}]
    items.write_text("".join(json.dumps(d) + "\n" for d in dists), encoding="utf-8")

    report = check_bounds(tmp_path, reference=items)  # the run folder
    assert report.n == 120 and report.n_labelled == 108 and report.lam == 0.8
    assert report.corollary_4_4.expected.holds and report.corollary_4_4.worst.holds
    assert all(r.bound.holds for r in report.proposition_4_8)
    assert sum(b.count for b in report.theorem_4_5) == 108
    assert report.lemma_4_6.n == 30 and report.lemma_4_6.share_holds == 1.0
    json.dumps(report.to_dict())

    text = bounds_report(path, reference=items)
    for heading in ("Corollary 4.4", "Proposition 4.8", "Theorem 4.5", "Lemma 4.7", "Lemma 4.6"):
        assert f"## {heading}" in text
    assert "**NO**" not in text
    with pytest.raises(SUAInputError, match="label list is unknown"):
        check_bounds(recs)
    with pytest.raises(SUAInputError, match="not the model's labels"):
        check_bounds(recs, labels=LABELS, reference=[{"id": "r0", "crowd_label_dist": {"x": 1},
                                                      "label_dist": {"x": 1}}])
    with pytest.raises(SUAInputError, match="no reference item"):
        check_bounds(recs, labels=LABELS, reference=[{"id": "zz", "crowd_label_dist": {}}])


def test_check_bounds_grid():
    recs = full_records(np.random.default_rng(5), 60)
    report = check_bounds(recs, labels=LABELS, grid=BoundsGrid(taus=[0.1, 0.2], gammas=[0.0, 0.3], n_bins=4))
    assert [r.tau for r in report.proposition_4_8] == [0.1, 0.2]
    assert [r.gamma for r in report.lemma_4_7] == [0.0, 0.3]
    assert {round(b.upper - b.lower, 9) for b in report.theorem_4_5} == {0.25}
    assert sum(b.count for b in report.theorem_4_5) == report.n_labelled
    with pytest.raises(SUAInputError, match="n_bins must be a positive integer"):
        check_bounds(recs, labels=LABELS, grid=BoundsGrid(n_bins=0))
    with pytest.raises(SUAInputError, match="γ must be numbers in"):
        check_bounds(recs, labels=LABELS, grid=BoundsGrid(gammas=[1.5]))


# -- files -----------------------------------------------------------------------------


def test_fit_and_apply_policy_files(tmp_path):
    rng = np.random.default_rng(14)
    val, test = tmp_path / "val.jsonl", tmp_path / "test.jsonl"
    write_scores(val, [r for r in full_records(rng, 400) if r["label"] is not None], lam=0.8)
    write_scores(test, full_records(rng, 200), lam=0.8)

    policy = fit_policy_file(val, tmp_path / "policy.json", target_coverage=0.8)
    assert policy.lam_ == 0.8  # the run's λ
    assert policy.fit_report_["scores"] == str(val)
    summary = apply_policy_file(tmp_path / "policy.json", test, tmp_path / "decisions.jsonl")
    lines = (tmp_path / "decisions.jsonl").read_text().splitlines()
    assert summary["n"] == len(lines) == 200
    assert summary["abstained"] == sum(json.loads(x)["abstain"] for x in lines)
    assert 0.6 < summary["coverage"] < 0.95 and "selective_accuracy" not in summary  # unlabelled
    assert meta_path_for(tmp_path / "decisions.jsonl").is_file()
    again = apply_policy_file(tmp_path / "policy.json", test, tmp_path / "decisions.jsonl")
    assert again == summary and len((tmp_path / "decisions.jsonl").read_text().splitlines()) == 200

    risk = fit_policy_file(val, tmp_path / "risk.json", target_risk=0.4, delta=0.1, lam=0.0)
    assert risk.fit_report_["certified"] and risk.fit_report_["risk_upper_bound"] <= 0.4
    with pytest.raises(SUAInputError, match="policy file not found"):
        apply_policy_file(tmp_path / "missing.json", test, tmp_path / "d.jsonl")
