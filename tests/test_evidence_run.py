"""The evidence path end to end on a micro profile (real MiniLM, real data, a few inputs per
split): a unit trains with its validation learning curve, is scored under the mixture Q_x and
token edits on every split, packs, and derives claims with intervals; a rerun resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from sua.cli import main
from sua.eval.artifacts import read_columns
from sua.measures import entropy

MICRO = """
name = "micro-evidence"
seeds = [0]
k = 3
k_sweep = [2]
k_reference = 4
mc_passes = 2
coverage = 0.8
perturber = "mixture"
second_qx = "token"
methods = ["standard"]

[train]
epochs = 1.0
batch_size = 16
lr = 1e-4
max_length = 64
log_every = 1
eval_k = 1

[tasks.nli]
train = 32
eval = 6
split_eval = { validation = 12, test = 12, ambient = 12 }
train_options = { eval_every = 1 }

[table3]
task = "nli"
train = 32
seeds = [0]
presets = ["standard"]

[appendix_b]
task_b2 = "nli"
b2_presets = ["standard"]
lam_grid = [0.0, 1.0]
coverages = [0.8]
"""


@pytest.fixture(scope="module")
def evidence_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("evidence")
    profile = folder / "micro.toml"
    profile.write_text(MICRO, encoding="utf-8")
    run, results = folder / "run", folder / "results" / "evidence"
    assert main(["evidence", "unit", "nli:standard:0", "--run", str(run), "--profile", str(profile),
                 "--data-dir", str(data_dir), "--quiet"]) == 0
    assert main(["evidence", "export", str(run), "--out", str(results)]) == 0
    assert main(["evidence", "derive", str(results)]) == 0
    return profile, run, results


def test_unit_packs_every_split_under_both_settings(evidence_run) -> None:
    _, _, results = evidence_run
    unit = results / "units" / "nli" / "standard" / "seed0"
    names = {p.stem for p in unit.glob("*.npz")}
    assert {"validation", "test", "mnli", "ambient", "epistemic", "test_adversarial",
            "validation.token", "test.token"} <= names
    assert "test_adversarial.token" not in names  # a split with its own Q_x has no second setting
    test, token = read_columns(unit / "test.npz"), read_columns(unit / "test.token.npz")
    assert test.n == 12 and test.pert_probs.shape == (12, 3, 3)
    assert np.array_equal(test.ids, token.ids) and test.agreement is not None
    assert "adversarial" in test.families.tolist() and token.families.tolist() == ["token"]
    epistemic = read_columns(unit / "epistemic.npz")
    assert epistemic.labels.tolist() == ["entailment", "non-entailment"] and epistemic.probs.shape[1] == 2
    curve = json.loads((results / "curves" / "nli-standard-seed0.json").read_text())
    assert [c["step"] for c in curve] == [0, 1, 2] and all(0 <= c["accuracy"] <= 1 for c in curve)
    assert (results.parent / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_claims_and_summary(evidence_run, data_dir) -> None:
    _, _, results = evidence_run
    claims = json.loads((results.parent / "claims.json").read_text())
    summary = json.loads((results.parent / "summary.json").read_text())
    assert summary["nli"]["n_test"] == 12 and summary["nli"]["qx"] == "mixture"
    test_claims = [c for c in claims if c["split"] == "test"]
    assert {c["metric"] for c in test_claims} >= {"AUROC", "Sel. Acc (80%)"}
    human = {h["split"]: h for h in summary["nli"]["human_uncertainty"]}
    assert set(human) == {"mnli", "ambient"} and human["ambient"]["n_items"] == 12
    assert set(human["ambient"]["spearman"]) == {"S", "H", "SUA (λ=1)", "1 − max p", "ambiguity proxy"}
    assert 0.0 <= human["ambient"]["lemma_4_6"]["share_holds"] <= 1.0
    # ρ(H, crowd label entropy) against scipy on the packed columns and the data file
    unit = read_columns(results / "units" / "nli" / "standard" / "seed0" / "ambient.npz")
    crowd = {r["id"]: r["label_dist"] for r in map(json.loads, (data_dir / "nli/ambient/test.jsonl").open())}
    h_crowd = [entropy(np.array(list(crowd[i].values()))) for i in unit.ids]
    h_model = entropy(unit.probs.astype(np.float64) / unit.probs.sum(-1, keepdims=True))
    assert human["ambient"]["spearman"]["H"]["value"] == pytest.approx(spearmanr(h_model, h_crowd).statistic)
    for c in claims:
        assert c["verdict"] in ("held", "not held", "inconclusive") and c["seeds"] == [0]
        if c["value"] is not None:  # None where a metric is undefined on 12 items (one class only)
            assert c["value"] == pytest.approx(c["a_value"] - c["b_value"])


def test_the_shipped_evidence_profile_loads() -> None:
    from sua.eval.runner import load_profile, split_preset

    profile = load_profile("evidence")
    assert profile["perturber"] == "mixture" and profile["second_qx"] == "token"
    assert profile["tasks"]["nli"]["eval"] >= 1000 and profile["tasks"]["qa"]["eval"] >= 600
    for family, points in profile["grid"].items():
        assert all(split_preset(f"{family}@{p}")[1] for p in points)


def test_rerun_resumes_without_work(evidence_run, data_dir) -> None:
    profile, run, _ = evidence_run
    model = next(run.glob("units/nli/standard-n32/seed0/model/model.safetensors"))
    scores = sorted(run.glob("units/nli/standard-n32/seed0/scores/*.jsonl"))
    before = [p.stat().st_mtime_ns for p in [model, *scores]]
    assert main(["evidence", "unit", "nli:standard:0", "--run", str(run), "--profile", str(profile),
                 "--data-dir", str(data_dir), "--quiet"]) == 0
    assert [p.stat().st_mtime_ns for p in [model, *scores]] == before
    assert main(["evidence", "unit", "nli:standard", "--run", str(run)]) == 2


def test_train_only_trains_and_scores_nothing(data_dir, tmp_path) -> None:
    # what a GPU machine runs: the unit folder is then copied back beside the run's others and
    # scored there (the model is found, not retrained)
    profile = tmp_path / "micro.toml"
    profile.write_text(MICRO, encoding="utf-8")
    run = tmp_path / "run"
    args = ["nli:standard:0", "--run", str(run), "--profile", str(profile), "--data-dir", str(data_dir),
            "--quiet"]
    assert main(["evidence", "unit", *args, "--train-only"]) == 0
    unit = run / "units/nli/standard-n32/seed0"
    assert (unit / "model/model.safetensors").exists()
    assert len((unit / "train_log.jsonl").read_text().splitlines()) > 1
    assert not list(unit.glob("scores/*"))
    assert main(["evidence", "unit", *args, "--train-only", "--split", "validation"]) == 2


def test_a_score_file_cut_off_mid_split_resumes_from_its_last_record(evidence_run, data_dir,
                                                                     tmp_path) -> None:
    """The runner scores through ``score_file``: a split interrupted after 5 of 12 inputs (and half
    a line) is finished by a rerun, which scores only the 7 missing inputs; the other files stay."""
    profile, run, _ = evidence_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    scores = copy / "units/nli/standard-n32/seed0/scores"
    test = scores / "test-k3-s0.jsonl"
    whole = [json.loads(line) for line in test.read_text(encoding="utf-8").splitlines()]
    assert len(whole) == 12 and (scores / "test-k3-s0.meta.json").exists()
    lines = test.read_text(encoding="utf-8").splitlines(keepends=True)
    test.write_text("".join(lines[:5]) + lines[5][:40], encoding="utf-8")
    others = {p: p.stat().st_mtime_ns for p in scores.glob("*.jsonl") if p != test}
    assert main(["evidence", "unit", "nli:standard:0", "--run", str(copy), "--profile", str(profile),
                 "--data-dir", str(data_dir), "--quiet"]) == 0
    resumed = [json.loads(line) for line in test.read_text(encoding="utf-8").splitlines()]
    assert resumed[:5] == whole[:5]  # finished records are never rewritten
    assert [r["id"] for r in resumed] == [r["id"] for r in whole]
    for new, old in zip(resumed[5:], whole[5:]):  # the same model, rewrites and seeds
        assert new["prediction"] == old["prediction"] and new["split"] == "test"
        assert new["probs"] == pytest.approx(old["probs"], abs=1e-5)
        assert [p["text"] for p in new["perturbations"]] == [p["text"] for p in old["perturbations"]]
    assert {p: p.stat().st_mtime_ns for p in others} == others


def test_export_leaves_out_a_score_file_still_being_written(evidence_run, tmp_path) -> None:
    """``sua evidence export`` packs only finished score files, and reads a file another process
    may still be appending to without touching it (its cut last line stays as it is); here the
    unfinished file is in the second of two units (seed 1, a copy of seed 0)."""
    from sua.eval.evidence import export_run

    _, run, results = evidence_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    unit = copy / "units/nli/standard-n32"
    shutil.copytree(unit / "seed0", unit / "seed1")
    test = unit / "seed1/scores/test-k3-s0.jsonl"
    lines = test.read_text(encoding="utf-8").splitlines(keepends=True)
    partial = "".join(lines[:5]) + lines[5][:40]
    test.write_text(partial, encoding="utf-8")
    logged: list[str] = []
    out = tmp_path / "packed"
    written = export_run(copy, out, log=logged.append)
    assert test.read_text(encoding="utf-8") == partial
    assert logged == ["not packed (not finished): units/nli/standard-n32/seed1/scores/test-k3-s0.jsonl"]
    whole = sorted(p.name for p in (results / "units/nli/standard/seed0").glob("*.npz"))
    assert sorted(p.name for p in (out / "units/nli/standard/seed0").glob("*.npz")) == whole
    packed = sorted(p.name for p in (out / "units/nli/standard/seed1").glob("*.npz"))
    assert packed == [name for name in whole if name != "test.npz"]
    assert len(written) == len(whole) + len(packed) + 2  # and the two learning curves


def test_a_score_file_without_manifest_is_read_as_written(evidence_run, data_dir, tmp_path) -> None:
    """Score files an older runner wrote whole (no ``.meta.json``) are read as they are, with no
    model: the run folders made before the runner went through ``score_file`` keep their tables."""
    from sua.eval.runner import ExperimentRun

    _, run, _ = evidence_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    scores = copy / "units/nli/standard-n32/seed0/scores"
    (scores / "test-k3-s0.meta.json").unlink()
    path = scores / "test-k3-s0.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    records[0]["entropy"] = 123.0  # a value no model gives: read back only if the file is read as is
    path.write_text("".join(json.dumps(r) + "\n" for r in records[::-1]), encoding="utf-8")
    logged: list[str] = []
    runner = ExperimentRun(copy, json.loads((copy / "profile.json").read_text(encoding="utf-8")),
                           data_dir=data_dir, progress=False, log=logged.append)
    read = runner.scores("nli", "standard", 0, "test", n_train=32)
    assert read == records  # in the split's order, whatever the file's
    assert read[0]["entropy"] == 123.0 and not logged  # nothing trained or scored


def test_multi_label_items_are_correct_when_the_prediction_is_one_of_their_labels(evidence_run,
                                                                                  data_dir) -> None:
    _, run, _ = evidence_run
    gold = {r["id"]: r["labels"] for r in map(json.loads, (data_dir / "nli/ambient/test.jsonl").open())}
    lines = (run / "units/nli/standard-n32/seed0/scores/ambient-k3-s0.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in lines.splitlines()]
    assert len(records) == 12 and all(r["split"] == "ambient" for r in records)
    for r in records:
        assert r["gold_labels"] == gold[r["id"]]
        assert r["correct"] == (r["prediction"] in gold[r["id"]] if gold[r["id"]] else None)
        for p in r["perturbations"]:
            assert p["correct"] == (p["prediction"] in gold[r["id"]] if gold[r["id"]] else None)
