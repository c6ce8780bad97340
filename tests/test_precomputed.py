"""Scoring predictions users already have: a real model run's records come back exactly from its
saved probabilities, logits work with --logits, and perturb -> the user's own model -> score
runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sua
from sua.cli import main
from sua.models import HFSequenceClassifier
from sua.scoring.precomputed import score_predictions

NLI = ["entailment", "neutral", "contradiction"]
KEEP = ("text", "kind", "family", "params", "probs")


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def model_run(nli_model_dir, snli_dev, tmp_path_factory):
    """`sua score` with a real MiniLM classifier on 10 SNLI pairs, K = 3."""
    out = tmp_path_factory.mktemp("run") / "scores.jsonl"
    assert main(["score", "--model", str(nli_model_dir), "--task", "nli", "--data", str(snli_dev),
                 "--limit", "10", "--k", "3", "--out", str(out), "--quiet"]) == 0
    return out


def _saved_probabilities(run):
    """Only what a user would have saved from the run: ids, labels, distributions, rewrites."""
    return [{"id": r["id"], "label": r["label"], "probs": r["probs"],
             "perturbations": [{k: p[k] for k in KEEP} for p in r["perturbations"]]}
            for r in _lines(run)]


def test_saved_probabilities_reproduce_the_model_run_exactly(model_run, tmp_path, capsys):
    preds = _write(tmp_path / "preds.jsonl", _saved_probabilities(model_run))
    out = tmp_path / "again.jsonl"
    assert main(["score", "--from-predictions", str(preds), "--labels", ",".join(NLI),
                 "--out", str(out)]) == 0
    assert _lines(out) == _lines(model_run)
    # a sua score output is itself a predictions file; its labels come from its .meta.json
    again = tmp_path / "again2.jsonl"
    assert main(["score", "--from-predictions", str(model_run), "--out", str(again)]) == 0
    assert _lines(again) == _lines(model_run)
    assert score_predictions(_lines(preds), NLI)[0].to_dict() == _lines(model_run)[0]


def test_logits_need_the_flag_and_then_match(model_run, tmp_path, capsys):
    def as_logits(p):
        return (np.log(np.asarray(p)) + 3.0).tolist()  # softmax(log p + c) = p
    preds = _saved_probabilities(model_run)
    for r in preds:
        r["probs"] = as_logits(r["probs"])
        for p in r["perturbations"]:
            p["probs"] = as_logits(p["probs"])
    path = _write(tmp_path / "logits.jsonl", preds)
    args = ["score", "--from-predictions", str(path), "--labels", ",".join(NLI)]
    assert main([*args, "--out", str(tmp_path / "refused.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--logits" in err
    assert main([*args, "--logits", "--out", str(tmp_path / "ok.jsonl")]) == 0
    for got, want in zip(_lines(tmp_path / "ok.jsonl"), _lines(model_run), strict=True):
        assert got["prediction"] == want["prediction"] and got["signature"] == want["signature"]
        for key in ("sua", "sensitivity", "entropy", "max_prob", "confidence", "ambiguity"):
            assert got[key] == pytest.approx(want[key], abs=1e-9)


def test_predictions_file_errors_are_one_line(model_run, tmp_path, capsys):
    preds = _write(tmp_path / "p.jsonl", _saved_probabilities(model_run))
    cases = [
        (["--from-predictions", str(preds), "--out", str(tmp_path / "o.jsonl")], "--labels"),
        (["--from-predictions", str(preds), "--labels", "other," + ",".join(NLI), "--out",
          str(tmp_path / "o.jsonl")], "expected 4 values"),
        (["--from-predictions", str(preds), "--labels", ",".join(NLI), "--out", str(preds)],
         "the predictions file itself"),
        (["--from-predictions", str(preds), "--data", str(preds), "--out", str(tmp_path / "o.jsonl")],
         "exactly one of --data"),
    ]
    for extra, message in cases:
        assert main(["score", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert _lines(preds) == _saved_probabilities(model_run)  # the input is never touched


def test_perturb_then_own_model_then_score(nli_model_dir, snli_dev, tmp_path):
    """The loop: `sua perturb` writes rewrites, the user runs their own model on them, `sua score
    --from-predictions` scores its outputs; the records match scoring with the model directly."""
    rewrites = tmp_path / "rewrites.jsonl"
    assert main(["perturb", "--data", str(snli_dev), "--field", "hypothesis", "--family", "token",
                 "--k", "3", "--limit", "8", "--out", str(rewrites), "--no-cache", "--quiet"]) == 0
    gold = {r["id"]: r for r in map(json.loads, snli_dev.read_text().splitlines()[:8])}
    model = HFSequenceClassifier(str(nli_model_dir))  # "the user's own model"
    preds = []
    for line in _lines(rewrites):
        premise = gold[line["id"]]["premise"]
        texts = [line["text"]] + [p["text"] for p in line["perturbations"]]
        probs = model.predict_proba([(premise, t) for t in texts]).tolist()
        preds.append({**line, "label": gold[line["id"]]["label"], "probs": probs[0],
                      "perturbations": [{**p, "probs": q}
                                        for p, q in zip(line["perturbations"], probs[1:], strict=True)]})
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--from-predictions", str(_write(tmp_path / "preds.jsonl", preds)),
                 "--labels", ",".join(model.labels), "--out", str(out), "--format", "csv"]) == 0
    direct = sua.score(model, list(gold.values()), sua.Fields("premise", "hypothesis"), perturber="token",
                       k=3)
    for got, want in zip(_lines(out), (r.to_dict() for r in direct), strict=True):
        assert got["id"] == want["id"] and got["prediction"] == want["prediction"]
        assert [p["text"] for p in got["perturbations"]] == [p["text"] for p in want["perturbations"]]
        for key in ("sua", "sensitivity", "entropy", "max_prob"):
            assert got[key] == pytest.approx(want[key], abs=1e-6)
    assert (tmp_path / "scores.csv").is_file() and (tmp_path / "scores.rewrites.csv").is_file()
