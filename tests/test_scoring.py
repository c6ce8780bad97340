"""SUAScorer: batching, deduplication, the numbers against the measures, streaming, resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from sua.errors import SUAInputError
from sua.inputs import Example
from sua.io import iter_examples
from sua.measures import divergence, entropy, signature
from sua.models import CallableModel
from sua.perturb import TokenPerturber
from sua.scoring import Fields, SUAScorer, meta_path_for

LABELS = ["entailment", "neutral", "contradiction"]


class HashModel:
    """A deterministic model whose output depends on every character, counting calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.model = CallableModel(self._probs, LABELS)
        self.labels = LABELS

    @staticmethod
    def _probs(inputs: list) -> np.ndarray:
        out = []
        for x in inputs:
            h = hashlib.sha256(json.dumps(x).encode()).digest()
            logits = np.frombuffer(h[:3], dtype=np.uint8) / 64.0
            out.append(np.exp(logits) / np.exp(logits).sum())
        return np.asarray(out)

    def predict_proba(self, inputs):
        self.calls.append(len(inputs))
        return self.model.predict_proba(inputs)


@pytest.fixture()
def examples(snli_dev: Path) -> list[Example]:
    return list(iter_examples(snli_dev, text_field="premise", pair_field="hypothesis", limit=40))


def test_record_numbers_match_the_measures(examples):
    model = HashModel()
    scorer = SUAScorer(model, TokenPerturber(), k=8, lam=0.7, seed=3)
    records = scorer.score_batch(examples)
    assert len(model.calls) == 1, "one model call for the whole batch"
    for ex, rec in zip(examples, records):
        p = HashModel._probs([ex.model_input()])[0]
        q = HashModel._probs([(ex.text, pert.text) for pert in rec.perturbations])
        d = divergence(np.broadcast_to(p, q.shape), q, "jsd")
        np.testing.assert_allclose([x.divergence for x in rec.perturbations], d, atol=1e-12)
        assert rec.sensitivity == pytest.approx(d.mean(), abs=1e-12)
        assert rec.sensitivity_worst == pytest.approx(d.max(), abs=1e-12)
        assert rec.entropy == pytest.approx(float(entropy(p)), abs=1e-12)
        assert rec.sua == pytest.approx(d.mean() - 0.7 * float(entropy(p)), abs=1e-12)
        assert rec.prediction == LABELS[int(np.argmax(p))]
        assert rec.correct == (rec.prediction == ex.label)
        assert rec.max_prob == pytest.approx(p.max())
        assert len(rec.perturbations) == 8
        assert all(pert.family == "token" for pert in rec.perturbations)
        expected_sig = signature(np.array([rec.sensitivity]), np.array([rec.entropy]),
                                 np.array([rec.ambiguity]))[0]
        assert rec.signature == expected_sig


def test_identical_inputs_are_scored_once(examples):
    model = HashModel()
    scorer = SUAScorer(model, TokenPerturber(), k=8)
    dup = examples[:5] + [Example(f"copy-{e.id}", e.text, e.pair, e.label) for e in examples[:5]]
    records = scorer.score_batch(dup)
    distinct = {e.model_input() for e in examples[:5]}
    for rec, ex in zip(records, dup):
        distinct |= {(ex.text, p.text) for p in rec.perturbations}
    assert model.calls == [len(distinct)]
    assert len(distinct) <= 10 * 9 - 5, "the 5 repeated clean inputs are sent once"
    # copies are different ids, so their draws differ, but the clean predictions agree
    for a, b in zip(records[:5], records[5:]):
        assert a.probs == b.probs


def test_chunking_does_not_change_numbers(examples):
    one = SUAScorer(HashModel(), TokenPerturber(), k=4, chunk_size=1)
    big = SUAScorer(HashModel(), TokenPerturber(), k=4, chunk_size=100)
    a = [r.to_dict() for r in one.score(examples)]
    b = [r.to_dict() for r in big.score(reversed(examples))]
    assert a == list(reversed(b))


def test_perturbs_the_chosen_side(examples):
    ex = examples[0]
    for field in ("text", "pair"):
        rec = SUAScorer(HashModel(), TokenPerturber(), k=8, perturb_field=field).score_batch([ex])[0]
        assert any(p.text != getattr(ex, field) for p in rec.perturbations)


def test_unknown_label_and_bad_arguments(examples):
    bad = Example("x", "A dog runs.", pair="An animal moves.", label="maybe")
    with pytest.raises(SUAInputError, match="label 'maybe' is not one of"):
        SUAScorer(HashModel(), TokenPerturber()).score_batch([bad])
    with pytest.raises(SUAInputError, match="k"):
        SUAScorer(HashModel(), TokenPerturber(), k=0)
    with pytest.raises(SUAInputError, match="lam"):
        SUAScorer(HashModel(), TokenPerturber(), lam=-1)
    with pytest.raises(SUAInputError, match="nope"):
        SUAScorer(HashModel(), TokenPerturber(), divergence="nope")


def _score_file(scorer, data, out, **kw):
    return scorer.score_file(data, out, Fields("premise", "hypothesis"), progress=False, **kw)


def test_score_file_resumes_without_rewriting(tmp_path, snli_dev):
    out = tmp_path / "scores.jsonl"
    scorer = SUAScorer(HashModel(), TokenPerturber(), k=3, chunk_size=7)
    full = tmp_path / "full.jsonl"
    _score_file(scorer, snli_dev, full, limit=30)
    reference = full.read_text().splitlines()

    # an interrupted run: 10 finished records and half of the 11th line
    lines = reference[:10] + [reference[10][: len(reference[10]) // 2]]
    out.write_text("\n".join(lines))
    meta_path_for(out).write_text(meta_path_for(full).read_text())

    model = HashModel()
    resumed = SUAScorer(model, TokenPerturber(), k=3, chunk_size=7)
    _score_file(resumed, snli_dev, out, limit=30)
    assert out.read_text().splitlines() == reference
    assert sum(model.calls) <= 20 * 4, "finished inputs are not scored again"


def test_score_file_refuses_a_different_config(tmp_path, snli_dev):
    out = tmp_path / "scores.jsonl"
    _score_file(SUAScorer(HashModel(), TokenPerturber(), k=3), snli_dev, out, limit=5)
    with pytest.raises(SUAInputError, match="differs in: k"):
        _score_file(SUAScorer(HashModel(), TokenPerturber(), k=4), snli_dev, out, limit=5)
    _score_file(SUAScorer(HashModel(), TokenPerturber(), k=4), snli_dev, out, limit=5,
                overwrite=True)
    assert len(out.read_text().splitlines()) == 5


def test_score_file_bad_input(tmp_path):
    scorer = SUAScorer(HashModel(), TokenPerturber())
    with pytest.raises(SUAInputError, match="not found"):
        scorer.score_file(tmp_path / "missing.jsonl", tmp_path / "o.jsonl")
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n')
    with pytest.raises(SUAInputError, match="corrupt.jsonl:2: not valid JSON"):
        scorer.score_file(corrupt, tmp_path / "o.jsonl", Fields(label_field=None), progress=False)
    empty = tmp_path / "empty_text.jsonl"
    empty.write_text('{"id": "a", "text": "  "}\n')
    with pytest.raises(SUAInputError, match="empty_text.jsonl:1: .*text is empty"):
        scorer.score_file(empty, tmp_path / "o2.jsonl", Fields(label_field=None), progress=False)
    missing_field = tmp_path / "fields.jsonl"
    missing_field.write_text('{"id": "a", "sentence": "hello there"}\n')
    with pytest.raises(SUAInputError, match="field 'text' is missing"):
        scorer.score_file(missing_field, tmp_path / "o3.jsonl", progress=False)
