"""The one score record and its one reader: every scorer's line reads back into the same columns,
files written before the record was shared read unchanged, and generated answers get no robust
accuracy they do not have."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sua.errors import SUAInputError
from sua.eval.explorer import explorer_rows
from sua.eval.metrics import metrics_from_records
from sua.eval.summary import summarize_records
from sua.records import KIND_FIELDS, PerturbationResult, ScoreRecord, ScoreTable, read_scores

FIXTURES = Path(__file__).parent / "fixtures"

#: The keys of a classifier's line, as ``sua score`` has always written them.
CLASSIFIER_KEYS = ["id", "prediction", "probs", "entropy", "max_prob", "confidence", "sensitivity",
                   "sensitivity_worst", "sua", "ambiguity", "signature", "label", "correct",
                   "perturbations", "extra"]
REWRITE_KEYS = ["text", "kind", "family", "params", "divergence", "prediction", "probs", "correct"]


def _classifier_record(i: int) -> ScoreRecord:
    return ScoreRecord(id=f"c{i}", prediction="pos", probs=[0.8, 0.2], entropy=0.5, max_prob=0.8,
                       confidence=0.6, sensitivity=0.1 * i, sensitivity_worst=0.2 * i, sua=0.1 * i - 0.5,
                       ambiguity=0.0, signature="stable-confident", label="pos", correct=True,
                       perturbations=[PerturbationResult(text="x", kind="typo", family="token", params={},
                                                         divergence=0.1 * i, prediction="neg",
                                                         probs=[0.3, 0.7], correct=False)])


def _legacy_generative_line(i: int, right: bool) -> dict:
    """A line of the generative scorer before the record was shared: ``answer``, no ``label``,
    rewrites with samples and neither ``prediction`` nor ``correct``."""
    return {"id": f"g{i}", "answer": "Paris", "samples": ["Paris", "Lyon"], "clusters": ["Paris", "Lyon"],
            "probs": [0.5, 0.5], "entropy": 0.69, "max_prob": 0.5, "sensitivity": 0.1 * i,
            "sensitivity_worst": 0.2, "sua": 0.1 * i - 0.69, "ambiguity": 0.6, "mean_token_entropy": None,
            "signature": "ambiguous", "n_generations": 9, "gold": ["Paris" if right else "Lyon"],
            "f1": 1.0 if right else 0.0, "exact_match": right, "correct": right,
            "perturbations": [{"text": "x", "kind": "typo", "family": "token", "params": {},
                               "samples": ["Lyon", "Lyon"], "probs": [0.0, 1.0], "divergence": 0.3}] * 2}


def test_a_classifier_line_keeps_its_keys_and_round_trips():
    rec = _classifier_record(2)
    line = rec.to_dict()
    assert list(line) == CLASSIFIER_KEYS and list(line["perturbations"][0]) == REWRITE_KEYS
    committed = json.loads((FIXTURES / "bad" / "scores_good.jsonl").read_text().splitlines()[0])
    assert set(committed) == set(CLASSIFIER_KEYS)  # an existing file has exactly these
    table = ScoreTable.from_records([json.loads(json.dumps(line))])
    assert table.ids == ("c2",) and table.prediction == ("pos",) and table.label == ("pos",)
    assert table.correct.tolist() == [1] and table.column("sensitivity").tolist() == [0.2]
    assert table.perturbations[0][0] == rec.perturbations[0]


def test_a_generated_record_writes_its_own_fields_and_a_rewrite_without_a_graded_answer():
    rec = ScoreRecord(id="g", prediction="Paris", probs=[1.0, 0.0], entropy=0.0, max_prob=1.0,
                      sensitivity=0.0, sensitivity_worst=0.0, sua=0.0, ambiguity=0.0, signature="stable",
                      samples=["Paris"], clusters=["Paris", ""], gold=["Paris"], f1=1.0, exact_match=True,
                      correct=True, n_generations=3,
                      perturbations=[PerturbationResult(text="x", kind="typo", family="token", params={},
                                                        divergence=0.0, probs=[1.0, 0.0], samples=["Paris"])])
    line = rec.to_dict()
    assert "confidence" not in line and "mean_token_entropy" not in line  # None: left out
    assert {"samples", "clusters", "gold", "f1", "exact_match", "n_generations"} <= set(line)
    assert set(line) - set(CLASSIFIER_KEYS) <= set(KIND_FIELDS)
    pert = line["perturbations"][0]
    assert pert["prediction"] is None and pert["correct"] is None and pert["samples"] == ["Paris"]
    table = ScoreTable.from_records([rec])
    assert table.gold == (("Paris",),) and table.numbers["f1"].tolist() == [1.0]
    with pytest.raises(SUAInputError, match="record 'g' has no field 'confidence'"):
        table.column("confidence")


def test_old_files_read_classifier_and_generative(tmp_path):
    classifier = read_scores(FIXTURES / "bad" / "scores_good.jsonl")
    assert len(classifier) == 10 and classifier.k() == 2
    assert classifier.correct.tolist() == [0, 1, 1, 0, 1, 1, 0, 1, 1, 0]
    old = tmp_path / "generative.jsonl"
    old.write_text("".join(json.dumps(_legacy_generative_line(i, i % 2 == 0)) + "\n" for i in range(4)))
    table = read_scores(old)
    assert table.prediction == ("Paris",) * 4 and table.label == (None,) * 4
    assert np.isnan(table.numbers["mean_token_entropy"]).all()
    rows = explorer_rows(table)
    assert rows[1]["p"] == "Paris" and rows[1]["y"] == "Lyon" and rows[1]["ok"] is False
    assert rows[0]["r"][0][2] == "Lyon"  # a generated rewrite shows its modal sampled answer
    assert summarize_records(table)["accuracy"] == 0.5


def test_generated_answers_have_no_robust_accuracy():
    """Half the greedy answers are right; the rewrites carry samples, not a graded answer, so
    robust accuracy is unknown (None), never 1.0 from comparing a missing prediction with a
    missing label."""
    lines = [_legacy_generative_line(i, i % 2 == 0) for i in range(4)]
    out = metrics_from_records(lines)
    assert out["accuracy"] == 0.5 and out["robust_accuracy"] is None
    shared = [ScoreTable.from_records([line]) for line in lines]
    assert all(t.perturbations[0][0].prediction is None for t in shared)


def test_a_table_refuses_bad_fields_naming_the_record():
    good = _classifier_record(1).to_dict()
    with pytest.raises(SUAInputError, match="src: record 'c1': correct must be true, false or null"):
        ScoreTable.from_records([{**good, "correct": "false"}], "src")
    with pytest.raises(SUAInputError, match="sua must be a finite number, got nan"):
        ScoreTable.from_records([{**good, "sua": float("nan")}])
    with pytest.raises(SUAInputError, match="probs must be a list of finite numbers"):
        ScoreTable.from_records([{**good, "probs": [0.5, "x"]}])
    with pytest.raises(SUAInputError, match="perturbations must be a list"):
        ScoreTable.from_records([{**good, "perturbations": {}}])
    with pytest.raises(SUAInputError, match="no records"):
        ScoreTable.from_records([])
    table = ScoreTable.from_records([good, {**good, "id": "u", "correct": None}])
    assert table.labelled().tolist() == [True, False]
    with pytest.raises(SUAInputError, match="first: 'u'"):
        table.right("the risk")
    assert table.subset(table.labelled()).ids == ("c1",)
    assert ScoreTable.of(table) is table
