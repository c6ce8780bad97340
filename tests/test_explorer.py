"""`sua explore`: the rows the page embeds, joined with the data file and the decisions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sua.cli import main
from sua.errors import SUAInputError
from sua.eval.explorer import explorer_rows, write_explorer
from sua.eval.summary import summarize_file
from sua.io import read_jsonl
from sua.models.callable import CallableModel
from sua.perturb import TokenPerturber
from sua.scoring import Fields, SUAScorer

K = 4
PAIRS = [
    ("A man is playing a guitar on stage.", "A person plays music.", "entailment"),
    ("Two dogs run through a snowy field.", "The animals are asleep indoors.", "contradiction"),
    ("A woman reads a book in the park.", "She is reading a novel for class.", "neutral"),
    ("Children build a sandcastle on the beach.", "Kids are outside.", "entailment"),
    ("A chef cuts onions in a busy kitchen.", "Nobody is cooking.", "contradiction"),
    ("An old man feeds pigeons </script> near a fountain.", "A man is near birds.", "entailment"),
]
LABELS = ["entailment", "neutral", "contradiction"]


def length_model() -> CallableModel:
    """A deterministic stand-in classifier: p(y|x) from the hypothesis' character counts."""
    def fn(inputs):
        out = []
        for _, hyp in inputs:
            a, b = len(hyp) % 5 + 1.0, hyp.count("e") + 1.0
            out.append([a / (a + b + 1), b / (a + b + 1), 1 / (a + b + 1)])
        return out
    return CallableModel(fn, labels=LABELS)


def nli_scores(folder: Path, pairs=PAIRS) -> Path:
    """A real `sua score` output (records + .meta.json) over a small hand-made NLI file."""
    data = folder / "nli.jsonl"
    data.write_text("".join(json.dumps({"id": f"ex-{i}", "premise": p, "hypothesis": h, "label": y}) + "\n"
                            for i, (p, h, y) in enumerate(pairs)), encoding="utf-8")
    scorer = SUAScorer(length_model(), TokenPerturber(), k=K, seed=0)
    return scorer.score_file(data, folder / "scores.jsonl", Fields("premise", "hypothesis"),
                             progress=False)


def embedded(html: Path) -> dict:
    """The JSON the page embeds (the escaping of "</" undone as a browser's JSON.parse would)."""
    text = html.read_text(encoding="utf-8")
    payload = re.search(r'<script id="sua-data" type="application/json">(.*?)</script>', text, re.S).group(1)
    return json.loads(payload)


def test_rows_hold_the_clean_input_the_rewrites_and_the_summary(tmp_path):
    scores = nli_scores(tmp_path)
    page = write_explorer(scores)
    assert page == tmp_path / "scores.explorer.html"
    data = embedded(page)
    records = [rec for _, rec in read_jsonl(scores)]
    assert len(data["rows"]) == len(PAIRS) == len(records)
    for row, rec, (premise, hypothesis, label) in zip(data["rows"], records, PAIRS, strict=True):
        assert (row["o"], row["c"], row["y"]) == (hypothesis, premise, label)
        assert (row["S"], row["H"], row["SUA"], row["sig"]) == (rec["sensitivity"], rec["entropy"],
                                                                rec["sua"], rec["signature"])
        assert [r[3] for r in row["r"]] == [p["divergence"] for p in rec["perturbations"]]
        assert [r[1] for r in row["r"]] == [p["text"] for p in rec["perturbations"]]
        assert len(row["r"]) == K and row["a"] is None
    assert data["summary"] == summarize_file(scores)
    # the one text holding "</script>" cannot close the data element early
    assert page.read_text(encoding="utf-8").count("</script>") == 2


def test_decisions_are_joined_by_id_and_checked(tmp_path):
    scores = nli_scores(tmp_path)
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text(json.dumps({"id": "ex-1", "abstain": True, "reason": "abstain: SUA > τ"}) + "\n",
                         encoding="utf-8")
    rows = embedded(write_explorer(scores, tmp_path / "x.html", decisions=decisions))["rows"]
    assert [(r["a"], r["why"]) for r in rows[:2]] == [(None, None), (True, "abstain: SUA > τ")]
    decisions.write_text(json.dumps({"id": "ex-1"}) + "\n", encoding="utf-8")
    with pytest.raises(SUAInputError, match="not a decision record"):
        write_explorer(scores, tmp_path / "x.html", decisions=decisions)


def test_generative_records_show_the_answer_and_the_modal_sample(tmp_path):
    rec = {"id": "q1", "answer": "Paris", "samples": ["Paris"] * 3, "clusters": ["Paris", "Lyon"],
           "probs": [1.0, 0.0], "entropy": 0.0, "max_prob": 1.0, "sensitivity": 0.2,
           "sensitivity_worst": 0.4, "sua": 0.2, "ambiguity": 0.3, "signature": "brittle",
           "gold": ["Paris", "Paris", "Paris, France"], "correct": True,
           "perturbations": [{"text": "capital of france?", "kind": "case", "family": "token", "params": {},
                              "samples": ["Lyon", "Paris", "Lyon"], "probs": [1 / 3, 2 / 3],
                              "divergence": 0.4}]}
    (row,) = explorer_rows([rec])
    assert (row["p"], row["y"], row["ok"]) == ("Paris", "Paris | Paris, France", True)
    assert row["r"] == [["case", "capital of france?", "Lyon", 0.4, None]]
    assert (row["o"], row["c"]) == (None, None)


def test_a_file_without_failures_has_no_auroc_and_still_renders(tmp_path):
    scores = nli_scores(tmp_path)
    lines = [json.loads(line) for line in scores.read_text(encoding="utf-8").splitlines()]
    scores.write_text("".join(json.dumps({**r, "correct": True}) + "\n" for r in lines), encoding="utf-8")
    summary = embedded(write_explorer(scores))["summary"]
    assert summary["accuracy"] == 1.0
    assert set(summary["failure_auroc"].values()) == {None}  # NaN in Python, null in the page


def test_data_file_given_by_hand_and_a_missing_one(tmp_path):
    scores = nli_scores(tmp_path)
    moved = tmp_path / "moved.jsonl"
    (tmp_path / "nli.jsonl").rename(moved)
    assert all(r["o"] is None for r in embedded(write_explorer(scores))["rows"])
    rows = embedded(write_explorer(scores, data=moved))["rows"]
    assert [r["o"] for r in rows] == [h for _, h, _ in PAIRS]
    with pytest.raises(SUAInputError, match="data file not found"):
        write_explorer(scores, data=tmp_path / "nowhere.jsonl")


def test_cli_writes_the_page_and_refuses_to_overwrite_the_scores(tmp_path, capsys):
    scores = nli_scores(tmp_path)
    assert main(["explore", str(scores), "--out", str(tmp_path / "e.html")]) == 0
    assert capsys.readouterr().out.strip() == f"explorer written to {tmp_path / 'e.html'}"
    before = scores.read_bytes()
    assert main(["explore", str(scores), "--out", str(scores)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sua explore: error:")
    assert scores.read_bytes() == before
