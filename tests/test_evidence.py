"""Packed per-instance artifacts and the claims derived from them (sua.eval.artifacts,
sua.eval.evidence), checked against sklearn and direct computations on the records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from sua.errors import SUAInputError
from sua.eval.artifacts import pack_records, read_columns, write_columns
from sua.eval.evidence import claim_groups, derive, paper_claims, score_columns
from sua.measures import divergence, entropy

LABELS = ["entailment", "neutral", "contradiction"]
FAMILIES = ["paraphrase", "token", "adversarial"]


def _records(n: int, k: int, seed: int) -> list[dict]:
    """Classifier records whose failures follow the entropy of p(·|x), with rewrites whose
    distributions move more on the failures."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        logits = rng.normal(0, 1 + 2 * rng.random(), size=3)
        p = np.exp(logits) / np.exp(logits).sum()
        label = LABELS[int(rng.choice(3, p=p))]  # the model is calibrated: wrong as often as it says
        pred = LABELS[int(p.argmax())]
        perts = []
        for j in range(k):
            q = np.exp(logits + rng.normal(0, 0.3 + (pred != label), size=3))
            q = q / q.sum()
            perts.append({"text": f"x{i}-{j}", "kind": "stub", "family": FAMILIES[j % 3], "params": {},
                          "divergence": float(divergence(p, q)), "prediction": LABELS[int(q.argmax())],
                          "probs": q.tolist(), "correct": LABELS[int(q.argmax())] == label})
        out.append({"id": f"item{i}", "prediction": pred, "probs": p.tolist(), "label": label,
                    "correct": pred == label, "perturbations": perts, "extra": {}})
    return out


def test_pack_round_trip_recomputes_the_records(tmp_path) -> None:
    records = _records(50, 4, seed=0)
    records[3]["correct"] = None
    path = write_columns(tmp_path / "u.npz", pack_records(records, LABELS, agreement=np.linspace(0, 1, 50)))
    c = read_columns(path)
    assert c.n == 50 and c.correct[3] == -1 and c.probs.dtype == np.float32
    scored = score_columns(c)
    assert scored.correct.size == 49  # the unlabelled item is left out
    keep = [r for r in records if r["correct"] is not None]
    s = np.array([np.mean([p["divergence"] for p in r["perturbations"]]) for r in keep])
    h = entropy(np.array([r["probs"] for r in keep]))
    assert np.allclose(scored.scores["S"], s, atol=1e-6)
    assert np.allclose(scored.scores["entropy"], h, atol=1e-6)
    assert np.allclose(scored.scores["SUA (λ=1)"], s - h, atol=1e-6)
    flips = [np.mean([p["prediction"] != r["prediction"] for p in r["perturbations"]]) for r in keep]
    assert np.allclose(scored.scores["flip share"], flips)
    adv = c.family_mask("adversarial")
    assert adv.sum() == 50 and adv[:, 2].all()


def _results(tmp_path, seeds=(0, 1)):
    root = tmp_path / "evidence"
    for seed in seeds:
        for split, n in (("validation", 200), ("test", 300)):
            recs = _records(n, 6, seed=100 * seed + (split == "test"))
            # every seed scores the same items
            write_columns(root / "units" / "nli" / "standard" / f"seed{seed}" / f"{split}.npz",
                          pack_records(recs, LABELS))
    (root / "run.json").write_text(json.dumps({"profile": {"perturber": "mixture", "k": 6}}))
    return root


def test_derive_claims_match_direct_computation(tmp_path) -> None:
    root = _results(tmp_path)
    out = derive(root)
    claims = json.loads(out["claims"].read_text())
    summary = json.loads(out["summary"].read_text())
    assert summary["nli"]["n_test"] == 300 and summary["nli"]["seeds"] == [0, 1]
    assert summary["nli"]["families_drawn"] == sorted(FAMILIES)
    by = {(c["claim"], c["split"], c["metric"]): c for c in claims}
    sua = by[("SUA (λ = 1) ranks failures better than entropy", "test", "AUROC")]
    assert set(sua) >= {"claim", "metric", "value", "ci_low", "ci_high", "verdict", "n_items", "seeds"}
    # the seed-pooled AUROCs equal sklearn's per seed, averaged
    direct = {"SUA (λ=1)": [], "entropy": []}
    for seed in (0, 1):
        scored = score_columns(read_columns(root / "units/nli/standard" / f"seed{seed}" / "test.npz"))
        for name in direct:
            direct[name].append(roc_auc_score(~scored.correct, scored.scores[name]))
    assert sua["a_value"] == pytest.approx(np.mean(direct["SUA (λ=1)"]))
    assert sua["b_value"] == pytest.approx(np.mean(direct["entropy"]))
    assert sua["value"] == pytest.approx(sua["a_value"] - sua["b_value"])
    assert sua["ci_low"] <= sua["value"] <= sua["ci_high"]
    # robust accuracy by hand from the records' per-rewrite correctness, averaged over seeds
    expected, worst = [], []
    for seed in (0, 1):
        c = read_columns(root / "units/nli/standard" / f"seed{seed}" / "test.npz")
        pert_ok = c.pert_correct == 1
        expected.append(pert_ok.mean())
        worst.append((pert_ok.all(1) & (c.correct == 1)).mean())
    robust = summary["nli"]["robust_accuracy"]["main"]
    assert robust["expected"][0] == pytest.approx(np.mean(expected))
    assert robust["worst_of_k"][0] == pytest.approx(np.mean(worst))
    assert all(lo <= v <= hi for v, lo, hi in robust.values())
    assert robust["worst_of_k"][0] <= robust["expected"][0]
    # failures here follow the entropy, so SUA = S − H ranks them backwards
    assert sua["verdict"] == "not held"
    # the rewrites move more on failures, which the validation-fitted combination picks up
    combined = by[("entropy + what only rewrites reveal (logistic) ranks failures better than entropy",
                   "test", "AUROC")]
    assert combined["verdict"] == "held"
    # claims whose other side was not run (AT, SUA-TR, self-consistency) are left out
    assert not any("SUA-TR" in c["claim"] or "self-consistency" in c["claim"] for c in claims)
    assert "| nli |" in out["evidence"].read_text()


def _rewrites_answer(records: list[dict], right: bool) -> list[dict]:
    """The same items with every rewrite answering right (``right``) or wrong."""
    out = []
    for r in records:
        wrong = next(name for name in LABELS if name != r["label"])
        name = r["label"] if right else wrong
        probs = [0.9 if label == name else 0.05 for label in LABELS]
        out.append({**r, "perturbations": [{**p, "probs": probs, "prediction": name, "correct": right}
                                           for p in r["perturbations"]]})
    return out


def test_tuned_rows_pick_the_grid_point_best_on_validation(tmp_path) -> None:
    root = _results(tmp_path, seeds=(0,))
    makers = {"sua-tr": lambda r: _rewrites_answer(r, False),
              "sua-tr@alpha=10": lambda r: _rewrites_answer(r, True), "at": lambda r: r}
    for preset, make in makers.items():
        for split, n, salt in (("validation", 200, 0), ("test", 300, 1)):
            columns = pack_records(make(_records(n, 6, seed=salt)), LABELS)
            write_columns(root / "units" / "nli" / preset / "seed0" / f"{split}.npz", columns)
    claims = json.loads(derive(root)["claims"].read_text())

    def find(claim: str) -> dict:
        return next(c for c in claims
                    if c["claim"] == claim and c["split"] == "test" and c["metric"] == "Rob. Acc")

    tuned = find("SUA-TR raises robust accuracy above AT (both tuned on validation)")
    assert tuned["units"] == {"sua-tr (tuned)": {"seed0": "sua-tr@alpha=10"}, "at (tuned)": {"seed0": "at"}}
    assert tuned["candidates"] == {"sua-tr (tuned)": ["sua-tr", "sua-tr@alpha=10"], "at (tuned)": ["at"]}
    assert tuned["a_value"] == 1.0 and tuned["verdict"] == "held"  # every rewrite answers right
    evidence = (tmp_path / "evidence.md").read_text()
    assert ("- sua-tr (tuned): among `sua-tr`, `sua-tr@alpha=10` on seed0; chosen `sua-tr@alpha=10` "
            "(rob. acc 1.000, acc " in evidence)
    assert "- at (tuned): among `at` on seed0; chosen `at` (rob. acc " in evidence
    assert "(one point run so far: not yet a selection)" in evidence
    plain = find("SUA-TR raises robust accuracy above AT")
    assert plain["a_value"] == 0.0 and plain["verdict"] == "not held" and plain["units"] == {}


def test_table2_and_table3_claims_pair_the_paper_columns_on_the_in_domain_test(tmp_path) -> None:
    """Table 2 ranks SUA-TR's failures by SUA against each baseline's own score, and SUA-TR's mean
    S is compared with Standard's; Table 3 pairs the full SUA-TR with an ablation on test only,
    ECE signed so that a lower full ECE is positive."""
    import torch
    from scipy.spatial.distance import jensenshannon
    from torchmetrics.functional.classification import binary_calibration_error

    root = _results(tmp_path, seeds=(0,))
    makers = {"sua-tr": lambda r: _rewrites_answer(r, True),
              "sua-tr-no-cons": lambda r: _rewrites_answer(r, False)}
    for preset, make in makers.items():
        for split, n, salt in (("validation", 200, 10), ("test", 300, 11), ("mnli", 100, 12)):
            write_columns(root / "units" / "nli" / preset / "seed0" / f"{split}.npz",
                          pack_records(make(_records(n, 6, seed=salt + len(preset))), LABELS))
    claims = json.loads(derive(root)["claims"].read_text())
    by = {(c["claim"], c["split"], c["metric"]): c for c in claims}
    full = score_columns(read_columns(root / "units/nli/sua-tr/seed0/test.npz"))
    ablated = score_columns(read_columns(root / "units/nli/sua-tr-no-cons/seed0/test.npz"))
    std = score_columns(read_columns(root / "units/nli/standard/seed0/test.npz"))
    ranks = by[("SUA-TR with its SUA score ranks failures better than Standard training", "test", "AUROC")]
    assert ranks["value"] == pytest.approx(roc_auc_score(~full.correct, full.scores["SUA (λ=1)"])
                                           - roc_auc_score(~std.correct, std.scores["1 − max p"]))
    robust = by[("SUA-TR (full) beats SUA-TR without L_cons (Table 3)", "test", "Rob. Acc")]
    assert (robust["value"], robust["verdict"]) == (1.0, "held")  # every rewrite right against none
    ece = by[("SUA-TR (full) beats SUA-TR without L_cons (Table 3)", "test", "ECE")]
    assert (ece["a"], ece["b"]) == ("sua-tr-no-cons", "sua-tr")
    for side, unit in (("a_value", ablated), ("b_value", full)):
        reference = binary_calibration_error(torch.tensor(unit.confidence, dtype=torch.float32),
                                             torch.tensor(unit.correct.astype(int)), n_bins=15, norm="l1")
        assert ece[side] == pytest.approx(float(reference), abs=1e-6)
    assert ece["value"] == pytest.approx(ece["a_value"] - ece["b_value"])
    auroc = by[("SUA-TR (full) beats SUA-TR without L_cons (Table 3)", "test", "AUROC")]
    assert auroc["value"] == pytest.approx(roc_auc_score(~full.correct, full.scores["SUA (λ=1)"])
                                           - roc_auc_score(~ablated.correct, ablated.scores["SUA (λ=1)"]))
    assert not any("Table 3" in c["claim"] and c["split"] != "test" for c in claims)
    assert not any("Table 3" in c["claim"] and "L_align" in c["claim"] for c in claims)  # not run
    assert not any(c["claim"].startswith("SUA-TR with its SUA score") and c["split"] == "mnli"
                   for c in claims)
    lower_s = by[("SUA-TR lowers the model's mean sensitivity S below Standard training's", "test", "mean")]
    direct = [np.mean([np.mean([jensenshannon(r["probs"], q["probs"]) ** 2 for q in r["perturbations"]])
                       for r in recs])
              for recs in (_records(300, 6, seed=1), _rewrites_answer(_records(300, 6, seed=11 + 6), True))]
    assert lower_s["value"] == pytest.approx(direct[0] - direct[1], abs=1e-6)
    entropy = [c for c in claims if c["claim"].startswith("SUA-TR training makes entropy rank")]
    assert [c["split"] for c in entropy] == ["test", "test"]  # plain and tuned, once: H reads no rewrite
    assert entropy[0]["value"] == pytest.approx(roc_auc_score(~full.correct, full.scores["entropy"])
                                                - roc_auc_score(~std.correct, std.scores["entropy"]))


def test_claims_at_a_glance_count_each_claims_verdicts(tmp_path) -> None:
    root = _results(tmp_path)
    for split in ("mnli", "ambient"):  # three tested splits, so each glance row sums three verdicts
        for seed in (0, 1):
            write_columns(root / "units/nli/standard" / f"seed{seed}" / f"{split}.npz",
                          pack_records(_records(150, 6, seed=len(split) + seed), LABELS))
    claims = json.loads(derive(root)["claims"].read_text())
    evidence = (tmp_path / "evidence.md").read_text()
    name = "SUA (λ = 1) ranks failures better than entropy"
    rows = [c for c in claims if c["claim"] == name]
    assert len(rows) == 3
    counts = " | ".join(f"{sum(c['verdict'] == v for c in rows)} ({sum(c['verdict_fdr'] == v for c in rows)})"
                        for v in ("held", "not held", "inconclusive"))
    low, high = min(c["value"] for c in rows), max(c["value"] for c in rows)
    assert f"| {name} | nli | 3 | {counts} | {low:+.3f} … {high:+.3f} |" in evidence


def test_claims_dealt_to_two_processes_derive_the_same_files(tmp_path) -> None:
    root = _results(tmp_path)
    for split in ("mnli", "ambient", "vitaminc", "epistemic"):  # four groups for the helper
        for seed in (0, 1):
            write_columns(root / "units/nli/standard" / f"seed{seed}" / f"{split}.npz",
                          pack_records(_records(150, 6, seed=len(split) + seed), LABELS))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:  # derive runs torch on one thread and gives the count back
        serial = {name: path.read_bytes() for name, path in derive(root).items()}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    parallel = derive(root, workers=2)
    for name in ("claims", "summary", "evidence"):
        assert parallel[name].read_bytes() == serial[name], name
    claims = paper_claims(["nli"], {"nli": ["ambient", "mnli", "test", "validation"]})
    groups = claim_groups(claims)
    assert sorted(i for group in groups for i in group) == list(range(len(claims)))
    # one group per (task, split): the largest (the in-domain test's) first, equal sizes in order
    assert [{(claims[i].task, claims[i].split) for i in group} for group in groups] == \
        [{("nli", "test")}, {("nli", "ambient")}, {("nli", "mnli")}]
    assert [len(group) for group in groups] == [sum(c.split == split for c in claims)
                                                 for split in ("test", "ambient", "mnli")]
    # an error in another process reaches the caller as itself
    write_columns(root / "units/nli/standard/seed1/mnli.npz", pack_records(_records(140, 6, seed=9), LABELS))
    with pytest.raises(SUAInputError, match="seeds were scored on different items"):
        derive(root, workers=2)


def test_a_grid_point_scored_on_validation_only_is_chosen_and_its_tuned_claims_wait(tmp_path) -> None:
    root = _results(tmp_path, seeds=(0,))
    (root / "run.json").write_text(json.dumps({"profile": {"perturber": "mixture", "k": 6, "seeds": [0]}}))
    val = {"sua-tr": _rewrites_answer(_records(200, 6, seed=0), False),
           "sua-tr@alpha=10": _rewrites_answer(_records(200, 6, seed=0), True)}
    for preset, recs in val.items():
        write_columns(root / "units" / "nli" / preset / "seed0" / "validation.npz",
                      pack_records(recs, LABELS))
    write_columns(root / "units" / "nli" / "sua-tr" / "seed0" / "test.npz",
                  pack_records(_records(300, 6, seed=1), LABELS))
    out = derive(root)
    claims = json.loads(out["claims"].read_text())
    tuned = json.loads(out["summary"].read_text())["nli"]["tuning"]["sua-tr"]
    accuracy = np.mean([r["correct"] for r in val["sua-tr@alpha=10"]])
    assert tuned["chosen"] == {"seed": "seed0", "preset": "sua-tr@alpha=10", "validation": [1.0, accuracy]}
    assert tuned["pending_test"] == ["seed0"]
    assert tuned["candidates"]["sua-tr"]["Rob. Acc"][0] == 0.0
    assert not any("(both tuned on validation)" in c["claim"] for c in claims)
    assert any(c["claim"] == "SUA-TR keeps accuracy (difference to Standard)" for c in claims)
    assert "; not yet scored on test: seed0" in (tmp_path / "evidence.md").read_text()


def test_temperature_scaled_ece_against_scipy(tmp_path) -> None:
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax, softmax

    from sua.measures.metrics import calibration_error

    root = _results(tmp_path, seeds=(0,))
    for split, n, salt in (("validation", 200, 0), ("test", 300, 1)):
        columns = pack_records(_records(n, 6, seed=salt), LABELS)
        write_columns(root / "units" / "nli" / "sua-tr" / "seed0" / f"{split}.npz", columns)
    claims = json.loads(derive(root)["claims"].read_text())
    ts = next(c for c in claims if c["claim"] == "SUA-TR lowers ECE more than temperature scaling"
              and c["split"] == "test")
    val = read_columns(root / "units/nli/standard/seed0/validation.npz")
    test = read_columns(root / "units/nli/standard/seed0/test.npz")
    z_val, z_test = np.log(val.probs.astype(np.float64)), np.log(test.probs.astype(np.float64))
    nll = lambda log_t: -log_softmax(z_val / np.exp(log_t), axis=1)[np.arange(val.n), val.label].mean()  # noqa: E731
    t = np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x)
    p = softmax(z_test / t, axis=1)
    assert ts["a_value"] == pytest.approx(calibration_error(p.max(1), test.correct == 1), abs=2e-3)


def _qa_records(n: int, k: int, seed: int, *, all_wrong: bool = False) -> list[dict]:
    """Extractive-QA records (no class distributions): per-rewrite divergences, span entropy,
    max p and token F1 in ``extra``, as the QA scorer writes them."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f1 = 0.0 if all_wrong else float(rng.choice([0.0, 0.4, 1.0]))
        perts = [{"text": f"q{i}-{j}", "kind": "stub", "family": FAMILIES[j % 2], "params": {},
                  "divergence": float(rng.random() / 10), "prediction": "span", "probs": None,
                  "correct": bool(rng.random() < 0.5) and not all_wrong} for j in range(k)]
        out.append({"id": f"q{i}", "prediction": "span", "entropy": float(rng.random()),
                    "max_prob": float(rng.random()), "label": "gold", "correct": f1 == 1.0,
                    "perturbations": perts, "extra": {"f1": f1}})
    return out


def test_qa_f1_interval_and_a_validation_split_without_a_right_answer(tmp_path) -> None:
    """QA reports mean token F1 with its interval; when no validation answer is right (or none
    wrong) nothing can be fitted there, so the validation-fitted claims are left out instead of
    failing the whole derivation."""
    root = tmp_path / "evidence"
    test = _qa_records(120, 4, seed=1)
    for split, recs in (("validation", _qa_records(40, 4, seed=0, all_wrong=True)), ("test", test)):
        write_columns(root / "units" / "qa" / "standard" / "seed0" / f"{split}.npz", pack_records(recs, None))
    (root / "run.json").write_text(json.dumps({"profile": {"perturber": "mixture", "k": 4}}))
    out = derive(root)
    qa = json.loads(out["summary"].read_text())["qa"]
    assert qa["f1"] == pytest.approx(np.mean([r["extra"]["f1"] for r in test]), abs=1e-6)
    assert qa["f1_ci"][0] < qa["f1"] < qa["f1_ci"][1]
    assert qa["exact_match"] == pytest.approx(np.mean([r["correct"] for r in test]))
    claims = {c["claim"] for c in json.loads(out["claims"].read_text()) if c["split"] == "test"}
    assert "sensitivity S alone ranks failures better than entropy" in claims
    assert not any("logistic" in c or "λ chosen" in c for c in claims)
    assert f"F1 {qa['f1']:.3f}" in out["evidence"].read_text()


def _noisy_rewrites(n: int, k: int, noise: float, seed: int) -> list[dict]:
    """Records whose rewrites move p(·|x) by an item-specific amount (the signal S estimates)
    times a per-draw factor (``noise``: 0 = every rewrite of an item equally far)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        logits = rng.normal(0, 1, size=3)
        p = np.exp(logits) / np.exp(logits).sum()
        scale = rng.uniform(0.05, 1.0)
        direction = rng.normal(size=3)
        perts = []
        for j in range(k):
            q = np.exp(logits + scale * direction * np.exp(noise * rng.normal()))
            q = q / q.sum()
            perts.append({"text": f"x{i}-{j}", "kind": "stub", "family": FAMILIES[j * 3 // k], "params": {},
                          "divergence": float(divergence(p, q)), "prediction": LABELS[int(q.argmax())],
                          "probs": q.tolist(), "correct": True})
        out.append({"id": f"item{i}", "prediction": LABELS[int(p.argmax())], "probs": p.tolist(),
                    "label": LABELS[int(p.argmax())] if i % 4 else LABELS[0], "correct": None,
                    "perturbations": perts, "extra": {}})
        out[-1]["correct"] = out[-1]["prediction"] == out[-1]["label"]
    return out


@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_k_agreement_follows_the_spearman_brown_law_of_independent_draws(tmp_path, noise) -> None:
    from sua.eval.evidence import Results, k_agreement

    folder = tmp_path / "evidence" / "units" / "nli" / "standard" / "seed0"
    write_columns(folder / "test.npz", pack_records(_noisy_rewrites(800, 8, noise, seed=3), LABELS))
    rows = {(r["k"], r["score"]): r for r in k_agreement(Results(tmp_path / "evidence"), "nli", ["seed0"])}
    assert sorted(k for k, _ in rows) == [1, 1, 2, 2, 4, 4]
    rho = {k: rows[k, "S"]["rho"] for k in (1, 2, 4)}
    if noise == 0:   # every rewrite of an item is as far as the others: any two estimates agree
        assert rho == pytest.approx({1: 1.0, 2: 1.0, 4: 1.0})
        return
    # disjoint, family-mixed halves of independent draws: reliability grows as k·ρ1 / (1 + (k−1)·ρ1)
    assert 0.2 < rho[1] < 0.9
    for k in (2, 4):
        predicted = k * rho[1] / (1 + (k - 1) * rho[1])
        assert rho[k] == pytest.approx(predicted, abs=0.06)
        assert rows[k, "S"]["ci"][0] < predicted < rows[k, "S"]["ci"][1] + 0.03
    assert rows[4, "S"]["implied_rho_vs_exact"] == pytest.approx(np.sqrt(rho[4]))


def test_method_rows_put_each_preset_on_its_own_seeds(tmp_path) -> None:
    import torch
    from torchmetrics.functional.classification import binary_calibration_error

    root = _results(tmp_path)
    write_columns(root / "units/nli/sua-tr/seed0/test.npz", pack_records(_records(300, 6, seed=7), LABELS))
    rows = json.loads(derive(root)["summary"].read_text())["nli"]["methods"]
    assert rows["standard"]["seeds"] == [0, 1] and rows["sua-tr"]["seeds"] == [0]
    per_seed = [score_columns(read_columns(root / "units/nli/standard" / f"seed{s}" / "test.npz"))
                for s in (0, 1)]
    assert rows["standard"]["AUROC (entropy)"][0] == pytest.approx(
        np.mean([roc_auc_score(~u.correct, u.scores["entropy"]) for u in per_seed]))
    one = score_columns(read_columns(root / "units/nli/sua-tr/seed0/test.npz"))
    assert rows["sua-tr"]["Acc"][0] == pytest.approx(one.correct.mean())
    ece = binary_calibration_error(torch.tensor(one.confidence, dtype=torch.float32),
                                   torch.tensor(one.correct.astype(int)), n_bins=15, norm="l1")
    assert rows["sua-tr"]["ECE"][0] == pytest.approx(float(ece), abs=1e-6)
    assert all(lo <= v <= hi for row in rows.values() for key, (v, lo, hi) in
               ((k, x) for k, x in row.items() if k != "seeds"))


def test_qa_flip_share_compares_answers_not_correctness(tmp_path) -> None:
    """A failure score must not read the gold answer: the QA flip share counts rewrites whose
    normalised answer differs from x's, whatever is right."""
    recs = _qa_records(3, 4, seed=2)
    answers = [("the Broncos", ["Broncos!", "broncos", "Panthers", "the broncos"]),   # one real change
               ("1990", ["1990", "1990", "1990", "1990"]),                           # none
               ("Paris", ["London", "Rome", "Paris", "Berlin"])]                      # three
    for r, (answer, rewritten) in zip(recs, answers, strict=True):
        r["prediction"] = answer
        for p, text in zip(r["perturbations"], rewritten, strict=True):
            p["prediction"] = text
    flips = score_columns(read_columns(write_columns(tmp_path / "a.npz", pack_records(recs, None))))
    assert flips.scores["flip share"].tolist() == [0.25, 0.0, 0.75]
    # the same answers judged against another gold answer: x's correctness changes, the score does not
    for r in recs:
        r["correct"] = not r["correct"]
    again = score_columns(read_columns(write_columns(tmp_path / "b.npz", pack_records(recs, None))))
    assert again.scores["flip share"].tolist() == [0.25, 0.0, 0.75]


def test_claims_report_the_difference_on_each_seed(tmp_path) -> None:
    """The pooled difference is the mean of the per-seed ones, each sklearn's AUROC gap there:
    the seed spread that the item-resampling interval does not cover."""
    root = _results(tmp_path)
    claims = json.loads(derive(root)["claims"].read_text())
    sua = next(c for c in claims if c["claim"] == "SUA (λ = 1) ranks failures better than entropy"
               and c["split"] == "test")
    direct = []
    for seed in (0, 1):
        u = score_columns(read_columns(root / "units/nli/standard" / f"seed{seed}" / "test.npz"))
        auroc = {name: roc_auc_score(~u.correct, u.scores[name]) for name in ("SUA (λ=1)", "entropy")}
        direct.append(auroc["SUA (λ=1)"] - auroc["entropy"])
    assert sua["per_seed"] == pytest.approx(direct)
    assert np.mean(sua["per_seed"]) == pytest.approx(sua["value"])
    assert all(len(c["per_seed"]) == len(c["seeds"]) for c in claims)


class _RecordingRun:
    """An ExperimentRun stand-in that records which files a unit asks for."""

    def __init__(self) -> None:
        from sua.eval.tasks import load_task

        self.profile = {"second_qx": "token"}
        self.spec = load_task("nli")
        self.calls: list[tuple] = []

    def task(self, name: str):
        return self.spec

    def model_dir(self, task, preset, seed):
        self.calls.append(("model",))

    def scores(self, task, preset, seed, split, qx=None):
        self.calls.append(("scores", split, qx))

    def agreement(self, task, preset, seed, split):
        self.calls.append(("agreement", split))


def test_run_unit_scores_validation_first_and_only_the_splits_asked_for() -> None:
    from sua.errors import SUAInputError
    from sua.eval.evidence import run_unit

    every = _RecordingRun()
    run_unit(every, "nli", "standard", 0)
    scored = [c[1] for c in every.calls if c[0] == "scores" and c[2] is None]
    assert scored[:2] == ["validation", "test"] and "train" not in scored
    assert sorted(scored) == sorted(s for s in every.spec.splits if s != "train")
    grid = _RecordingRun()
    run_unit(grid, "nli", "sua-tr@alpha=10", 0, splits=["validation"])
    assert grid.calls == [("model",), ("scores", "validation", None), ("scores", "validation", "token"),
                          ("agreement", "validation")]
    train_only = _RecordingRun()
    run_unit(train_only, "nli", "standard", 0, splits=[])
    assert train_only.calls == [("model",)]
    misspelt = _RecordingRun()
    with pytest.raises(SUAInputError, match="no split 'tset'"):
        run_unit(misspelt, "nli", "standard", 0, splits=["tset"])
    assert misspelt.calls == []  # refused before any training


def test_coverage_counts_a_unit_landed_only_with_every_pack_of_its_scope(tmp_path) -> None:
    from sua.eval.evidence import Results, coverage, expected_packs, planned_units

    profile = {"tasks": {"topic": {}}, "methods": ["standard", "at"], "seeds": [0, 1], "second_qx": "token",
               "grid": {"at": ["adv_epsilon=0.001"]}, "table3": {"task": "topic", "seeds": [0],
                                                                 "presets": ["standard", "sua-tr-k4"]}}
    assert planned_units(profile) == [
        ("topic", "standard", 0, "all"), ("topic", "standard", 1, "all"), ("topic", "at", 0, "all"),
        ("topic", "at", 1, "all"), ("topic", "at@adv_epsilon=0.001", 0, "validation"),
        ("topic", "sua-tr-k4", 0, "in-domain")]  # standard, a Table 3 row too, is planned once
    assert expected_packs("topic", None) == ["validation", "test", "bbc_news", "test_adversarial"]
    assert expected_packs("topic", "token", ("validation", "in-domain")) == [
        "validation", "validation.token", "test", "test.token"]
    packs = expected_packs("topic", "token")
    assert packs == ["validation", "validation.token", "test", "test.token", "bbc_news", "bbc_news.token",
                     "test_adversarial"]
    columns = pack_records(_records(20, 6, seed=0), LABELS)
    units = tmp_path / "units" / "topic"
    for name in packs:
        write_columns(units / "standard" / "seed0" / f"{name}.npz", columns)
    for name in packs[:-1]:  # the adversarial split not scored yet
        write_columns(units / "standard" / "seed1" / f"{name}.npz", columns)
    for name in ("validation", "validation.token"):
        write_columns(units / "at@adv_epsilon=0.001" / "seed0" / f"{name}.npz", columns)
    for name in packs[:4]:  # an ablation needs validation and the in-domain test only
        write_columns(units / "sua-tr-k4" / "seed0" / f"{name}.npz", columns)
    rows = {(r["preset"], r["scope"]): r for r in coverage(Results(tmp_path), profile, "topic")}
    assert rows["standard", "all"] == {"preset": "standard", "scope": "all", "planned": [0, 1], "landed": [0],
                                       "partial": [1]}
    assert rows["at@adv_epsilon=0.001", "validation"]["landed"] == [0] and rows["at", "all"]["landed"] == []
    # the only validated AT candidate is chosen, and is then planned on every seed and split
    assert rows["at@adv_epsilon=0.001", "all"] == {"preset": "at@adv_epsilon=0.001", "scope": "all",
                                                   "planned": [0, 1], "landed": [], "partial": [0]}
    assert rows["sua-tr-k4", "in-domain"] == {"preset": "sua-tr-k4", "scope": "in-domain", "planned": [0],
                                              "landed": [0], "partial": []}


def test_the_point_chosen_on_the_first_seed_is_the_tuned_row_on_every_seed(tmp_path) -> None:
    root = _results(tmp_path)
    # seed 0's validation prefers alpha=10, seed 1's the defaults: seed 0 decides for both
    for seed, best in ((0, "sua-tr@alpha=10"), (1, "sua-tr")):
        for preset in ("sua-tr", "sua-tr@alpha=10"):
            for split, n, salt in (("validation", 200, 0), ("test", 300, 1)):
                recs = _rewrites_answer(_records(n, 6, seed=salt), preset == best)
                write_columns(root / "units" / "nli" / preset / f"seed{seed}" / f"{split}.npz",
                              pack_records(recs, LABELS))
    claims = json.loads(derive(root)["claims"].read_text())
    tuned = next(c for c in claims if c["claim"] == "SUA-TR raises robust accuracy above Standard training "
                 "(both tuned on validation)" and c["split"] == "test" and c["metric"] == "Rob. Acc")
    assert tuned["units"]["sua-tr (tuned)"] == {"seed0": "sua-tr@alpha=10", "seed1": "sua-tr@alpha=10"}
    assert tuned["seeds"] == [0, 1] and tuned["a_value"] == 0.5  # seed 0's rewrites all right, seed 1's wrong


def test_a_split_whose_items_the_human_signal_does_not_name_is_left_out(tmp_path, data_dir) -> None:
    root = _results(tmp_path)
    # an "mnli" split of other items than MNLI dev-matched (ids item0...): no signal to correlate with
    write_columns(root / "units/nli/standard/seed0/mnli.npz", pack_records(_records(150, 6, seed=9), LABELS))
    summary = json.loads(derive(root, data_dir=data_dir)["summary"].read_text())
    assert "human_uncertainty" not in summary["nli"]
    assert any(c["split"] == "mnli" for c in json.loads((root.parent / "claims.json").read_text()))

def test_figure2_gives_each_score_its_seed_pooled_auroc_with_its_interval(tmp_path) -> None:
    root = _results(tmp_path)
    # a shift split scored on seed 0 only: its AUROCs come from that seed alone
    write_columns(root / "units/nli/standard/seed0/vitaminc.npz",
                  pack_records(_records(150, 6, seed=9), LABELS))
    out = derive(root)
    fig2 = json.loads(out["summary"].read_text())["nli"]["figure2"]
    assert list(fig2) == ["test", "vitaminc"]  # the task's split order, validation left out
    assert fig2["vitaminc"]["seeds"] == [0] and fig2["vitaminc"]["n_items"] == 150
    # no MC-dropout votes were packed, so there is no self-consistency bar
    assert "1 − self-consistency" not in fig2["test"]["auroc"]
    for split, seeds in (("test", (0, 1)), ("vitaminc", (0,))):
        units = [score_columns(read_columns(root / "units/nli/standard" / f"seed{s}" / f"{split}.npz"))
                 for s in seeds]
        for score in ("entropy", "S", "SUA (λ=1)"):
            value, low, high = fig2[split]["auroc"][score]
            direct = [roc_auc_score(~u.correct, u.scores[score]) for u in units]
            assert value == pytest.approx(np.mean(direct))
            assert low <= value <= high
        low, high = fig2[split]["auroc"]["entropy"][1:]
        assert low < high
    assert out["figure2"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Figure 2 (nli)" in out["evidence"].read_text()


def test_figure2_error_bars_span_the_interval_of_a_cell() -> None:
    from matplotlib.container import ErrorbarContainer

    from sua.eval.report.figures import figure2_figure

    table = {"id": "figure2", "key_columns": ["Split", "Score"], "columns": ["AUROC"],
             "rows": [{"keys": {"Split": "test", "Score": "entropy"},
                       "cells": {"AUROC": {"mean": 0.7, "ci": [0.62, 0.75]}}},
                      {"keys": {"Split": "test", "Score": "S"},
                       "cells": {"AUROC": {"mean": 0.6, "std": 0.05}}}]}
    ax = figure2_figure(table).axes[0]
    spans = [c.lines[2][0].get_segments()[0][:, 1] for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert spans[0] == pytest.approx([0.62, 0.75])  # the 95 % interval, asymmetric
    assert spans[1] == pytest.approx([0.55, 0.65])  # ± the std over seeds


def test_appendix_b2_rows_are_planned_once_and_paired_with_the_mixture_in_domain(tmp_path) -> None:
    from sua.eval.evidence import planned_units

    profile = {"tasks": {"nli": {}}, "methods": ["sua-tr"], "seeds": [0],
               "table3": {"task": "nli", "seeds": [0], "presets": ["sua-tr", "sua-tr-para-only"]},
               "appendix_b": {"task_b2": "nli",
                              "b2_presets": ["sua-tr", "sua-tr-para-only", "sua-tr-mixture"]}}
    assert planned_units(profile) == [("nli", "sua-tr", 0, "all"),
                                      ("nli", "sua-tr-para-only", 0, "in-domain"),
                                      ("nli", "sua-tr-mixture", 0, "in-domain")]
    root = _results(tmp_path, seeds=(0,))
    for preset, right in (("sua-tr", False), ("sua-tr-mixture", True)):
        for split, n, salt in (("validation", 200, 20), ("test", 300, 21)):
            write_columns(root / "units" / "nli" / preset / "seed0" / f"{split}.npz",
                          pack_records(_rewrites_answer(_records(n, 6, seed=salt), right), LABELS))
    claims = json.loads(derive(root)["claims"].read_text())
    b2 = {c["metric"]: c for c in claims if "(App. B.2)" in c["claim"]}
    assert sorted(b2) == ["AUROC", "ECE", "Rob. Acc", "Sel. Acc (80%)"]  # the pairs not run are left out
    assert all(c["claim"].startswith("SUA-TR trained on the mixture beats training on token edits")
               and c["split"] == "test" for c in b2.values())
    assert (b2["Rob. Acc"]["value"], b2["Rob. Acc"]["verdict"]) == (1.0, "held")
    assert (b2["ECE"]["a"], b2["ECE"]["b"]) == ("sua-tr", "sua-tr-mixture")  # signed: a lower mixture ECE
    mixture, token = (score_columns(read_columns(root / "units/nli" / p / "seed0/test.npz"))
                      for p in ("sua-tr-mixture", "sua-tr"))
    assert b2["AUROC"]["value"] == pytest.approx(roc_auc_score(~mixture.correct, mixture.scores["SUA (λ=1)"])
                                                 - roc_auc_score(~token.correct, token.scores["SUA (λ=1)"]))


def test_appendix_b3_sweeps_lambda_at_scoring_time_against_sklearn(tmp_path) -> None:
    from sua.eval.evidence import Results, lambda_sweep

    root = _results(tmp_path)
    (root / "run.json").write_text(json.dumps({"profile": {"perturber": "mixture", "k": 6,
                                                           "appendix_b": {"lam_grid": [0.0, 0.5, 5.0]}}}))
    out = derive(root)
    rows = json.loads(out["summary"].read_text())["nli"]["lambda_sweep"]
    assert [(r["preset"], r["seeds"]) for r in rows] == [("standard", [0, 1])]  # no SUA-TR unit
    units = [score_columns(read_columns(root / f"units/nli/standard/seed{s}/test.npz")) for s in (0, 1)]
    for lam, value, low, high in rows[0]["auroc"]:
        direct = [roc_auc_score(~u.correct, u.scores["S"] - lam * u.scores["entropy"]) for u in units]
        assert value == pytest.approx(np.mean(direct)) and low <= value <= high
    assert [row[0] for row in rows[0]["auroc"]] == [0.0, 0.5, 5.0]
    # λ = 0 is S alone; a large λ ranks by −H, which on these records (failures follow H) is backwards
    assert rows[0]["auroc"][0][1] > 0.5 > rows[0]["auroc"][2][1]
    assert lambda_sweep(Results(root), "nli", [1.0])[0]["auroc"][0][1] == pytest.approx(
        np.mean([roc_auc_score(~u.correct, u.scores["SUA (λ=1)"]) for u in units]))
    assert "## Appendix B.3: λ at scoring time (nli" in out["evidence"].read_text()
