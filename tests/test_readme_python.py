"""The README's Python snippets marked ``<!-- tested: ... -->`` run as written, offline, with the
names a user would supply (``my_model``, ``model``, ``tokenizer``, ``train_rows``, ``val_rows``)."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_bert_config

import sua
from sua.models import CallableModel

pytest.importorskip("pandas")
datasets = pytest.importorskip("datasets")

README = Path(__file__).resolve().parents[1] / "README.md"
REVIEWS = ["A great film.", "Dull and far too long.", "I loved every minute of it.", "Not worth the ticket."]


def snippets() -> list[str]:
    return re.findall(r"<!-- tested: tests/test_readme_python.py -->\n```python\n(.*?)```",
                      README.read_text(encoding="utf-8"), flags=re.S)


def my_model(texts):
    """A user's model: one distribution over (neg, pos) per text, from a CRC of the text."""
    rows = []
    for text in texts:
        w = zlib.crc32(text.encode()) % 9 + 1
        rows.append([w / 10, 1 - w / 10])
    return rows


def test_the_readme_has_the_three_snippets():
    assert len(snippets()) == 3


def test_dataframe_in_dataframe_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = {"my_model": my_model}
    exec(snippets()[0], ns)
    table, records = ns["table"], ns["records"]
    assert list(table["id"]) == ["r1", "r2"] and len(ns["rewrites"]) == 2 * 8
    assert list(table["sua"]) == [r.sua for r in records]
    expected = my_model(["A great film.", "Dull and far too long."])
    assert np.allclose(table[["p_neg", "p_pos"]].to_numpy(), expected)


def test_precomputed_loop_gives_the_model_run_records(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{"id": f"r{i}", "text": t} for i, t in enumerate(REVIEWS)]
    Path("reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ns = {"my_model": my_model}
    exec(snippets()[1], ns)
    direct = sua.score(CallableModel(my_model, ["neg", "pos"]), rows, perturber="token", k=4)
    assert [r.to_dict() for r in ns["records"]] == [r.to_dict() for r in direct]


def test_trainer_snippet_trains_and_logs_sua_metrics(tokenizer, snli_dev, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    transformers = pytest.importorskip("transformers")
    labels = ["entailment", "neutral", "contradiction"]
    config = tiny_bert_config(tokenizer, dropout=0.0, max_positions=256, seed=0, num_labels=3,
                              id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    keep = ("id", "premise", "hypothesis", "label")
    rows = [{k: r[k] for k in keep} for r in map(json.loads, snli_dev.read_text().splitlines()[:12])]
    ns = {"model": transformers.BertForSequenceClassification(config), "tokenizer": tokenizer,
          "train_rows": datasets.Dataset.from_list(rows[:8]),
          "val_rows": datasets.Dataset.from_list(rows[8:])}
    exec(snippets()[2], ns)
    history = ns["trainer"].state.log_history
    assert any("eval_sua_S" in e and "eval_sua_risk" in e for e in history)
    assert any("train_loss" in e for e in history)
