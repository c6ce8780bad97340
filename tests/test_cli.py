"""The `sua` command end to end on real SNLI pairs and a real MiniLM classifier."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from sua.cli import main
from sua.scoring import meta_path_for

NLI = ["entailment", "neutral", "contradiction"]


def test_score_then_summarize(nli_model_dir, snli_dev, tmp_path, capsys):
    out = tmp_path / "scores.jsonl"
    args = ["score", "--model", str(nli_model_dir), "--task", "nli", "--data", str(snli_dev),
            "--limit", "24", "--k", "4", "--out", str(out), "--quiet"]
    assert main(args) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 24
    gold = [json.loads(line) for line in snli_dev.read_text().splitlines()[:24]]
    assert [r["id"] for r in records] == [g["id"] for g in gold]
    for r, g in zip(records, gold):
        assert r["label"] == g["label"] and r["prediction"] in NLI
        assert sum(r["probs"]) == pytest.approx(1.0)
        assert len(r["perturbations"]) == 4
        assert r["sua"] == pytest.approx(r["sensitivity"] - r["entropy"])
        assert 0 <= r["sensitivity"] <= r["sensitivity_worst"] <= 0.6932
    meta = json.loads(meta_path_for(out).read_text())
    assert meta["config"]["k"] == 4 and meta["config"]["labels"] == NLI
    assert "torch" in meta["versions"]

    # a rerun with the same config has nothing left to do and rewrites nothing
    before = out.read_bytes()
    assert main(args) == 0
    assert out.read_bytes() == before

    capsys.readouterr()
    assert main(["summarize", str(out)]) == 0
    table = capsys.readouterr().out
    assert "inputs            24" in table and "failure AUROC" in table
    assert main(["summarize", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 24


def test_score_mixture_draws_adversarial_rewrites(nli_model_dir, snli_dev, tmp_path):
    out = tmp_path / "mixture.jsonl"
    assert main(["score", "--model", str(nli_model_dir), "--task", "nli", "--data", str(snli_dev),
                 "--limit", "6", "--k", "8", "--perturber", "mixture", "--out", str(out), "--quiet"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    families = {p["family"] for r in records for p in r["perturbations"]}
    assert "adversarial" in families  # the mixture no longer drops it when the model is at hand
    assert "dropped=()" in json.dumps(json.loads(meta_path_for(out).read_text())["config"])
    gold = {g["id"]: g for g in map(json.loads, snli_dev.read_text().splitlines()[:6])}
    tokenizer = AutoTokenizer.from_pretrained(nli_model_dir)
    for r in records:
        # draws are distinct as the model sees them, and none is the hypothesis itself
        ids = [tuple(tokenizer(p["text"])["input_ids"]) for p in r["perturbations"]
               if "repeat" not in p["params"]]
        assert len(ids) == len(set(ids))
        assert tuple(tokenizer(gold[r["id"]]["hypothesis"])["input_ids"]) not in ids


@pytest.mark.parametrize("extra, message", [
    (["--data", "missing.jsonl"], "data file not found"),
    (["--data", "SNLI", "--text-field", "sentence"], "field 'sentence' is missing"),
    (["--data", "SNLI", "--divergence", "cosine"], "cosine"),
    (["--data", "SNLI", "--task", "classification"], "field 'text' is missing"),
])
def test_bad_input_is_one_line_and_exit_2(nli_model_dir, snli_dev, tmp_path, capsys, extra, message):
    extra = [str(snli_dev) if a == "SNLI" else a for a in extra]
    args = ["score", "--model", str(nli_model_dir), "--task", "nli", "--limit", "3",
            "--out", str(tmp_path / "o.jsonl"), "--quiet", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sua score: error:") and message in err
    assert len(err.splitlines()) == 1


def test_missing_model_and_bad_summary_input(tmp_path, snli_dev, capsys):
    assert main(["score", "--model", str(tmp_path / "nope"), "--data", str(snli_dev),
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["summarize", str(snli_dev)]) == 2
    assert "not a score record" in capsys.readouterr().err


def test_demo_config_refuses_sizes_no_demo_can_use(tmp_path, capsys):
    from sua.errors import SUAInputError
    from sua.eval.demo import DemoConfig

    assert DemoConfig().train_size is None and DemoConfig(train_size=5).train_size == 5
    for bad in ({"eval_size": 0}, {"eval_size": None}, {"train_size": 0}, {"train_size": 2.5}):
        name, value = next(iter(bad.items()))
        with pytest.raises(SUAInputError, match=f"{name} must be a positive integer, got {value}"):
            DemoConfig(**bad)
    train, test = DemoConfig(data_dir=tmp_path).sources()
    assert (train, test) == (str(tmp_path / "nli/snli/dev.jsonl"), str(tmp_path / "nli/snli/test.jsonl"))
    assert main(["demo", "--out", str(tmp_path / "demo"), "--eval-size", "0"]) == 2
    assert capsys.readouterr().err.strip() == "sua demo: error: --eval-size must be >= 1, got 0"
    assert not (tmp_path / "demo").exists()


def test_demo_small_end_to_end(data_dir, tmp_path, capsys):
    """The README's main job with tiny sizes: real data, real fine-tuning, real scoring."""
    out = tmp_path / "demo"
    args = ["demo", "--data-dir", str(data_dir), "--out", str(out), "--train-size", "64",
            "--eval-size", "12", "--k", "2", "--epochs", "1", "--quiet"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("accuracy on 12 held-out pairs: ")
    aurocs = [float(line.split()[1]) for line in text.splitlines() if line.startswith("  ")]
    assert len(aurocs) == 4 and aurocs == sorted(aurocs, reverse=True)  # the best score first
    assert "<- the paper's SUA = S - 1·H" in text and "\nreading: " in text
    assert f"explorer: {out / 'scores.explorer.html'}" in text
    assert (out / "scores.explorer.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert len((out / "scores.jsonl").read_text().splitlines()) == 12
    assert (out / "model" / "config.json").exists()
    # the second run reuses the fine-tuned model and the finished records
    model_mtime = (out / "model" / "model.safetensors").stat().st_mtime
    assert main(args) == 0
    assert (out / "model" / "model.safetensors").stat().st_mtime == model_mtime
    # another sample size scores the new sample afresh instead of mixing in the old records
    capsys.readouterr()
    size = args.index("--eval-size") + 1
    assert main([*args[:size], "10", *args[size + 1:]]) == 0
    assert capsys.readouterr().out.startswith("accuracy on 10 held-out pairs: ")
    assert len((out / "scores.jsonl").read_text().splitlines()) == 10
