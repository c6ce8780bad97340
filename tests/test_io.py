"""JSONL and hub-dataset reading, and the resume helper."""

from __future__ import annotations

import sys
import types

import pytest

from sua.errors import SUAInputError
from sua.io import finished_ids, iter_examples


class _ClassLabel:
    def __init__(self, names):
        self.names = names


class _FakeDataset(list):
    features = {"premise": object(), "hypothesis": object(),
                "label": _ClassLabel(["entailment", "neutral", "contradiction"])}


@pytest.fixture()
def fake_datasets(monkeypatch):
    calls = []

    def load_dataset(path, config=None, split=None):
        calls.append((path, config, split))
        return _FakeDataset([
            {"premise": "A dog runs.", "hypothesis": "An animal moves.", "label": 0},
            {"premise": "A cat sleeps.", "hypothesis": "A cat is awake.", "label": 2},
            {"premise": "Kids play.", "hypothesis": "It is noon.", "label": -1},
        ])

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    return calls


def test_hub_source_maps_class_labels(fake_datasets):
    exs = list(iter_examples("hf:stanfordnlp/snli@plain_text:validation", text_field="premise",
                             pair_field="hypothesis"))
    assert fake_datasets == [("stanfordnlp/snli", "plain_text", "validation")]
    assert [e.label for e in exs] == ["entailment", "contradiction", None]
    assert [e.id for e in exs] == ["line-1", "line-2", "line-3"]
    assert exs[1].model_input() == ("A cat sleeps.", "A cat is awake.")


def test_hub_source_errors(monkeypatch):
    with pytest.raises(SUAInputError, match="hf:NAME"):
        list(iter_examples("hf:snli"))
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(SUAInputError, match="pip install datasets"):
        list(iter_examples("hf:snli:test"))


def test_finished_ids_drops_a_cut_line(tmp_path):
    out = tmp_path / "s.jsonl"
    out.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "sc')
    assert finished_ids(out) == {"a", "b"}
    assert out.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    out.write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(SUAInputError, match="s.jsonl:2: existing output line"):
        finished_ids(out)
