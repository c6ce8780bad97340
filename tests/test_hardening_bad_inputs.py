"""The committed corpus of bad files (tests/fixtures/bad) through every command that reads them:
each answer is exit 2 and exactly one `error:` line naming the problem, never a traceback (an
uncaught exception fails the test), and no output is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sua.cli import main

BAD = Path(__file__).parent / "fixtures" / "bad"
GOOD_DATA, GOOD_SCORES = BAD / "data_good.jsonl", BAD / "scores_good.jsonl"
GOOD_POLICY = BAD / "policy_good.json"

#: data files every reading command refuses, with a word the error line must contain
BAD_DATA = {
    "data_empty.jsonl": "no records", "data_blank_lines.jsonl": "no records",
    "data_not_utf8.jsonl": f"byte offset {(BAD / 'data_not_utf8.jsonl').read_bytes().index(0xE9)}",
    "data_truncated_utf8.jsonl": "not UTF-8",
    "data_not_json.jsonl": ":2: not valid JSON", "data_not_object.jsonl": ":2: expected a JSON object",
}
#: data files refused where records are matched by id (score, perturb)
BAD_IDS = {"data_duplicate_ids.jsonl": "'d1' (2x)", "data_null_ids.jsonl": "id = null (lines 3)"}
BAD_SCORES = {
    "scores_correct_string.jsonl": "correct must be true, false or null, got 'false'",
    "scores_nan.jsonl": "sensitivity must be a finite number", "scores_not_utf8.jsonl": "not UTF-8",
    "scores_empty.jsonl": "no", "scores_not_records.jsonl": "no", "scores_string_number.jsonl": "entropy",
}
BAD_POLICIES = {
    "policy_negative_lam.json": "lam must be >= 0", "policy_nan_threshold.json": "NaN",
    "policy_empty.json": "unknown policy keys|lam must be",
    "policy_string_lam.json": "lam must be a finite number",
    "policy_extra_key.json": "surprise", "policy_unknown_axis.json": "confidence",
    "policy_no_thresholds.json": "thresholds", "policy_fitted_on_kl.json": "divergence = 'kl'",
    "policy_bad_params.json": "colour", "policy_not_utf8.json": "not UTF-8",
    "policy_not_json.json": "not valid JSON",
}


def one_error_line(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and ": error: " in lines[0], lines
    return lines[0]


def data_commands(data: Path, out: Path) -> dict[str, list]:
    return {
        "score": ["score", "--model", out / "no-model", "--data", data, "--out", out / "s.jsonl", "--quiet"],
        "score-lm": ["score", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
                     "--template", "sentiment", "--data", data, "--out", out / "s.jsonl", "--quiet"],
        "perturb": ["perturb", "--data", data, "--out", out / "p.jsonl", "--family", "token", "--quiet"],
        "train": ["train", "--task", "classification", "--method", "standard", "--data", data,
                  "--out", out / "run", "--quiet"],
    }


def scores_commands(scores: Path, out: Path) -> dict[str, list]:
    return {
        "summarize": ["summarize", scores],
        "abstain-fit": ["abstain", "fit", "--scores", scores, "--target-coverage", "0.8",
                        "--out", out / "p.json"],
        "abstain-apply": ["abstain", "apply", "--policy", GOOD_POLICY, "--scores", scores,
                          "--out", out / "d.jsonl"],
        "bounds": ["bounds", scores],
    }


@pytest.mark.parametrize("command", ["score", "score-lm", "perturb", "train"])
@pytest.mark.parametrize(("name", "expected"), list(BAD_DATA.items()) + list(BAD_IDS.items()))
def test_bad_data_files(name, expected, command, tmp_path, capsys):
    if command == "train" and name in BAD_IDS:
        pytest.skip("training does not match records by id")
    line = one_error_line(data_commands(BAD / name, tmp_path)[command], capsys)
    assert name in line and expected in line
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a lock file


@pytest.mark.parametrize("command", ["summarize", "abstain-fit", "abstain-apply", "bounds"])
@pytest.mark.parametrize(("name", "expected"), BAD_SCORES.items())
def test_bad_score_files(name, expected, command, tmp_path, capsys):
    line = one_error_line(scores_commands(BAD / name, tmp_path)[command], capsys)
    assert expected in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["abstain-fit", "abstain-apply", "bounds"])
def test_corrupt_meta_beside_scores(command, tmp_path, capsys):
    line = one_error_line(scores_commands(BAD / "scores_badmeta.jsonl", tmp_path)[command], capsys)
    assert "scores_badmeta.meta.json" in line and "not valid JSON" in line


@pytest.mark.parametrize(("name", "expected"), BAD_POLICIES.items())
def test_bad_policy_files(name, expected, tmp_path, capsys):
    import re

    line = one_error_line(["abstain", "apply", "--policy", BAD / name, "--scores", GOOD_SCORES,
                           "--out", tmp_path / "d.jsonl"], capsys)
    assert re.search(expected, line), line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["results_not_utf8", "results_not_json"])
def test_bad_results_files(name, capsys):
    assert "results.json" in one_error_line(["report", BAD / name], capsys)


@pytest.mark.parametrize(("argv", "option"), [
    (["score", "--data", GOOD_DATA, "--out", "x.jsonl", "--model", "m", "--lam", "nan"], "--lam"),
    (["score", "--data", GOOD_DATA, "--out", "x.jsonl", "--model", "m", "--batch-size", "0"], "--batch-size"),
    (["score", "--data", GOOD_DATA, "--out", "x.jsonl", "--model", "m", "--limit", "-1"], "--limit"),
    (["score", "--data", GOOD_DATA, "--out", "x.jsonl", "--model", "m", "--k", "0"], "--k"),
    (["score", "--data", GOOD_DATA, "--out", "x.jsonl", "--model", "m", "--lam", "-1"], "--lam"),
    (["perturb", "--data", GOOD_DATA, "--out", "x.jsonl", "--k", "0"], "--k"),
    (["train", "--data", GOOD_DATA, "--out", "run", "--epochs", "0"], "--epochs"),
    (["train", "--data", GOOD_DATA, "--out", "run", "--lr", "inf"], "--lr"),
    (["abstain", "fit", "--scores", GOOD_SCORES, "--out", "p.json", "--target-coverage", "nan"],
     "--target-coverage"),
    (["bounds", GOOD_SCORES, "--lam", "nan"], "--lam"),
])
def test_bad_arguments_refused_before_any_work(argv, option, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert option in one_error_line(argv, capsys)
    assert list(tmp_path.iterdir()) == []


def test_the_good_counterparts_pass(tmp_path, capsys):
    """The bad files differ from these in one defect each: these run to exit 0."""
    assert main(["summarize", str(GOOD_SCORES)]) == 0
    assert main(["abstain", "apply", "--policy", str(GOOD_POLICY), "--scores", str(GOOD_SCORES),
                 "--out", str(tmp_path / "d.jsonl")]) == 0
    assert main(["abstain", "fit", "--scores", str(GOOD_SCORES), "--target-coverage", "0.8",
                 "--out", str(tmp_path / "p.json")]) == 0
    assert main(["perturb", "--data", str(GOOD_DATA), "--out", str(tmp_path / "p.jsonl"), "--family",
                 "token", "--no-cache", "--quiet"]) == 0


def test_output_under_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    line = one_error_line(["perturb", "--data", GOOD_DATA, "--out", blocker / "p.jsonl", "--family", "token",
                           "--no-cache", "--quiet"], capsys)
    assert "cannot write" in line


def test_read_only_output_folder_is_one_line(tmp_path, capsys):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(GOOD_SCORES, folder / "s.jsonl")
    folder.chmod(0o500)
    try:
        line = one_error_line(["abstain", "fit", "--scores", folder / "s.jsonl", "--target-coverage", "0.8",
                               "--out", folder / "p.json"], capsys)
    finally:
        folder.chmod(0o700)
    assert "cannot write" in line


def test_corrupt_config_beside_a_train_run(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes(b'{"task": "nli", \xff')
    line = one_error_line(["train", "--task", "classification", "--data", GOOD_DATA, "--out", run,
                           "--method", "standard", "--quiet"], capsys)
    assert "config.json" in line and "not UTF-8" in line


def test_a_folder_that_is_not_a_model_given_to_train(tmp_path, capsys):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hello": "world"}')
    line = one_error_line(["train", "--task", "classification", "--data", GOOD_DATA,
                           "--out", tmp_path / "run", "--method", "standard", "--model", folder, "--quiet"],
                          capsys)
    assert "cannot load the backbone" in line


def test_a_fitted_policy_remembers_its_divergence(tmp_path, capsys):
    import json

    policy = tmp_path / "p.json"
    assert main(["abstain", "fit", "--scores", str(GOOD_SCORES), "--target-coverage", "0.8",
                 "--out", str(policy)]) == 0
    assert json.loads(policy.read_text())["fit_report"]["scores_config"] == {
        "divergence": "jsd", "k": 2, "perturber": "token"}
    kl = tmp_path / "kl.jsonl"
    shutil.copy(GOOD_SCORES, kl)
    meta = json.loads((BAD / "scores_good.meta.json").read_text())
    meta["config"]["divergence"] = "kl"
    (tmp_path / "kl.meta.json").write_text(json.dumps(meta))
    line = one_error_line(["abstain", "apply", "--policy", policy, "--scores", kl,
                           "--out", tmp_path / "d.jsonl"], capsys)
    assert "divergence = 'jsd'" in line and "divergence = 'kl'" in line
