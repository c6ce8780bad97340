"""Any input in, tables out: strings, tuples, dicts, DataFrames, Datasets, CSV and Parquet give
the same records as the JSONL file with the same fields; records become flat DataFrames."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

import sua
from sua.cli import main
from sua.errors import SUAInputError
from sua.models import CallableModel
from sua.perturb import get_perturber
from sua.scoring import SUAScorer

pd = pytest.importorskip("pandas")
datasets = pytest.importorskip("datasets")

NLI = ["entailment", "neutral", "contradiction"]
FIELDS = sua.Fields(text_field="premise", pair_field="hypothesis", label_field="label")


def hashed_model() -> CallableModel:
    """A deterministic stand-in for a user's model: p(.|x) from a CRC of the text(s)."""
    def predict(items):
        rows = []
        for x in items:
            h = zlib.crc32(" || ".join(x if isinstance(x, tuple) else (x,)).encode())
            w = np.array([h % 7 + 1, h % 5 + 1, h % 3 + 1], dtype=np.float64)
            rows.append(w / w.sum())
        return rows
    return CallableModel(predict, NLI)


@pytest.fixture(scope="module")
def snli_rows(snli_dev):
    keep = ("id", "premise", "hypothesis", "label")
    return [{k: r[k] for k in keep} for r in map(json.loads, snli_dev.read_text().splitlines()[:6])]


def _scorer() -> SUAScorer:
    return SUAScorer(hashed_model(), get_perturber("token"), k=3, seed=1)


def _jsonl_records(rows, path):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = _scorer().score_file(path, path.with_name("out.jsonl"), FIELDS, progress=False)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_every_input_type_gives_the_jsonl_records(snli_rows, tmp_path):
    reference = _jsonl_records(snli_rows, tmp_path / "in.jsonl")
    frame = pd.DataFrame(snli_rows)
    inputs = {
        "dicts": snli_rows,
        "DataFrame": frame,
        "Dataset": datasets.Dataset.from_pandas(frame),
    }
    for name, given in inputs.items():
        records = sua.score(hashed_model(), given, sua.Fields("premise", "hypothesis"), perturber="token",
                            k=3, seed=1)
        assert [r.to_dict() for r in records] == reference, name
    for ext in ("csv", "parquet"):
        path = tmp_path / f"in.{ext}"
        frame.to_csv(path, index=False) if ext == "csv" else frame.to_parquet(path, index=False)
        out = _scorer().score_file(path, tmp_path / f"out-{ext}.jsonl", FIELDS, progress=False)
        assert [json.loads(line) for line in out.read_text().splitlines()] == reference, ext


def test_strings_and_tuples_give_the_records_of_unlabelled_jsonl(snli_rows, tmp_path):
    unlabelled = [{"id": str(i), "premise": r["premise"], "hypothesis": r["hypothesis"]}
                  for i, r in enumerate(snli_rows)]
    reference = _jsonl_records(unlabelled, tmp_path / "pairs.jsonl")
    pairs = [(r["premise"], r["hypothesis"]) for r in snli_rows]
    assert [r.to_dict() for r in _scorer().score(pairs)] == reference
    singles = [{"id": str(i), "premise": r["premise"]} for i, r in enumerate(snli_rows)]
    path = tmp_path / "singles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in singles))
    out = _scorer().score_file(path, tmp_path / "singles-out.jsonl",
                               sua.Fields(text_field="premise", label_field=None), progress=False)
    expected = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.to_dict() for r in _scorer().score([r["premise"] for r in snli_rows])] == expected


@pytest.mark.parametrize("given, message", [
    ("a sentence", "single string"),
    ({"text": "a sentence"}, "got dict"),
    ([1, 2], "input 0: expected a string, a (text, pair) tuple"),
    ([("a", "b", "c")], "got tuple"),
    ([{"txt": "a"}], "field 'text' is missing"),
])
def test_wrong_input_types_say_what_is_expected(given, message):
    with pytest.raises(SUAInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sua.score(hashed_model(), given, k=2)


def test_records_become_flat_and_long_dataframes(snli_rows):
    records = sua.score(hashed_model(), snli_rows, sua.Fields("premise", "hypothesis"), k=3)
    flat = sua.records_frame(records, labels=NLI)
    assert len(flat) == len(records) and list(flat["id"]) == [r["id"] for r in snli_rows]
    for column in ("sua", "sensitivity", "entropy", "max_prob", "signature", "correct", "label"):
        assert list(flat[column]) == [getattr(r, column) for r in records]
    probs = flat[[f"p_{n}" for n in NLI]].to_numpy()
    assert np.array_equal(probs, np.array([r.probs for r in records]))
    long = sua.rewrites_frame(records, labels=NLI)
    assert len(long) == 3 * len(records)
    assert list(long["divergence"]) == [p.divergence for r in records for p in r.perturbations]
    assert list(long["text"]) == [p.text for r in records for p in r.perturbations]
    assert np.allclose(long[[f"p_{n}" for n in NLI]].sum(axis=1), 1.0)


def test_cli_reads_csv_and_writes_parquet_and_csv_tables(nli_model_dir, snli_rows, tmp_path, capsys):
    data = tmp_path / "snli.csv"
    pd.DataFrame(snli_rows).to_csv(data, index=False)
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--model", str(nli_model_dir), "--task", "nli", "--data", str(data),
                 "--k", "2", "--out", str(out), "--format", "parquet", "--quiet"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    flat = pd.read_parquet(tmp_path / "scores.parquet")
    long = pd.read_parquet(tmp_path / "scores.rewrites.parquet")
    assert list(flat["id"]) == [r["id"] for r in snli_rows] == [r["id"] for r in records]
    assert list(flat["sua"]) == [r["sua"] for r in records]
    assert np.array_equal(flat[[f"p_{n}" for n in NLI]].to_numpy(), [r["probs"] for r in records])
    assert len(long) == 2 * len(records)
    assert f"table written to {tmp_path / 'scores.parquet'}" in capsys.readouterr().out
