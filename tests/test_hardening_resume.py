"""Resume never loses or mixes records: duplicate/null ids refused before any model call, a
model changed at the same path refused (content fingerprint), perturb checks its config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_bert_config

from sua.cli import main
from sua.errors import SUAInputError
from sua.fingerprint import model_fingerprint
from sua.models.callable import CallableModel
from sua.perturb import get_perturber
from sua.scoring import SUAScorer

BAD = Path(__file__).parent / "fixtures" / "bad"


def counting_model() -> tuple[CallableModel, list[int]]:
    calls: list[int] = []

    def fn(texts):
        calls.append(len(texts))
        return np.full((len(texts), 2), 0.5)

    return CallableModel(fn, labels=["positive", "negative"]), calls


@pytest.mark.parametrize(("name", "match"), [
    ("data_duplicate_ids.jsonl", r"1 duplicate id\(s\), e.g. 'd1' \(2x\)"),
    ("data_null_ids.jsonl", r"1 record\(s\) have id = null \(lines 3\)")])
def test_bad_ids_refused_before_the_first_model_call(name, match, tmp_path):
    model, calls = counting_model()
    scorer = SUAScorer(model, get_perturber("token"), k=2)
    with pytest.raises(SUAInputError, match=match):
        scorer.score_file(BAD / name, tmp_path / "s.jsonl", progress=False)
    assert calls == [] and list(tmp_path.iterdir()) == []


def test_ids_that_only_differ_in_type_are_duplicates(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}\n')
    model, calls = counting_model()
    with pytest.raises(SUAInputError, match="duplicate"):
        SUAScorer(model, get_perturber("token"), k=2).score_file(data, tmp_path / "s.jsonl", progress=False)
    assert calls == []


def test_resume_with_unique_ids_keeps_every_record(tmp_path):
    data = BAD / "data_good.jsonl"
    model, _ = counting_model()
    scorer = SUAScorer(model, get_perturber("token"), k=2)
    out = scorer.score_file(data, tmp_path / "s.jsonl", progress=False)
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])  # interrupted mid-line
    scorer.score_file(data, out, progress=False)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == ["d0", "d1", "d2", "d3"]


def test_an_output_written_from_other_data_is_refused_not_mixed(tmp_path):
    """The same data path with other content (a new sample written over the old one)."""
    model, calls = counting_model()
    scorer = SUAScorer(model, get_perturber("token"), k=2)
    data = tmp_path / "d.jsonl"
    good = (BAD / "data_good.jsonl").read_text()
    data.write_text(good)
    out = scorer.score_file(data, tmp_path / "s.jsonl", progress=False)
    before = out.read_bytes()
    data.write_text('{"id": "d0", "text": "still here"}\n{"id": "x9", "text": "a new input"}\n')
    n_calls = len(calls)
    with pytest.raises(SUAInputError, match=r"holds 3 record\(s\) whose ids are not in .*'d1', 'd2', 'd3'"):
        scorer.score_file(data, out, progress=False)
    assert out.read_bytes() == before and len(calls) == n_calls
    # a grown input file resumes: the old ids are all still there
    data.write_text(good + '{"id": "d4", "text": "one more"}\n')
    scorer.score_file(data, out, progress=False)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["d0", "d1", "d2", "d3", "d4"]


@pytest.fixture()
def model_dir(tokenizer, tmp_path) -> Path:
    folder = tmp_path / "model"
    _reseed_weights(folder, tokenizer, seed=0)
    tokenizer.save_pretrained(folder)
    return folder


def _reseed_weights(folder: Path, tokenizer, seed: int) -> None:
    from transformers import BertForSequenceClassification

    labels = {"id2label": {0: "negative", 1: "positive"}, "label2id": {"negative": 0, "positive": 1}}
    config = tiny_bert_config(tokenizer, dropout=0.0, max_positions=64, seed=seed, num_labels=2, **labels)
    BertForSequenceClassification(config).save_pretrained(folder)


def test_changed_weights_at_the_same_path_refused_on_resume(model_dir, tokenizer, tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    args = ["score", "--model", str(model_dir), "--data", str(BAD / "data_good.jsonl"), "--out", str(out),
            "--k", "2", "--max-length", "32", "--quiet"]
    assert main(args) == 0
    first = out.read_text().splitlines()
    out.write_text(first[0] + "\n")  # as if interrupted after one record
    before_fp = model_fingerprint(model_dir)
    _reseed_weights(model_dir, tokenizer, seed=1)
    assert model_fingerprint(model_dir) != before_fp
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model_fingerprint" in err[0] and "different config" in err[0]
    assert out.read_text() == first[0] + "\n"  # nothing from the new model appended
    # the same weights again: the resume proceeds and completes the file
    _reseed_weights(model_dir, tokenizer, seed=0)
    assert model_fingerprint(model_dir) == before_fp
    assert main(args) == 0
    resumed = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in resumed] == ["d0", "d1", "d2", "d3"]
    for got, want in zip(resumed, map(json.loads, first), strict=True):  # same model: same numbers
        np.testing.assert_allclose(got["probs"], want["probs"], rtol=1e-5)


def test_fingerprint_is_content_not_path(model_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    assert model_fingerprint(copy) == model_fingerprint(model_dir)
    assert model_fingerprint("org/hub-name") is None and model_fingerprint(None) is None


def test_perturb_checks_its_config_on_resume(tmp_path, capsys):
    out = tmp_path / "p.jsonl"
    base = ["perturb", "--data", str(BAD / "data_good.jsonl"), "--out", str(out), "--family", "token",
            "--no-cache", "--quiet"]
    assert main([*base, "--k", "2"]) == 0
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n")  # interrupted
    config = json.loads(out.with_name("p.meta.json").read_text())
    assert config["k"] == 2
    capsys.readouterr()
    assert main([*base, "--k", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differs in: k" in err[0]
    assert out.read_text() == lines[0] + "\n"
    assert main([*base, "--k", "2"]) == 0  # the same config resumes
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["d0", "d1", "d2", "d3"]
    assert {len(r["perturbations"]) for r in records} == {2}
    assert out.read_text().splitlines() == lines  # bit-identical to the uninterrupted run


def test_perturb_resumes_an_output_whose_manifest_has_the_old_name(tmp_path, capsys):
    """Outputs written before sua perturb used <stem>.meta.json keep <out>.config.json: a rerun
    reads it (and refuses another config by it), then keeps the manifest under the new name only."""
    out = tmp_path / "p.jsonl"
    base = ["perturb", "--data", str(BAD / "data_good.jsonl"), "--out", str(out), "--family", "token",
            "--no-cache", "--quiet"]
    assert main([*base, "--k", "2"]) == 0
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n")  # interrupted, by a version that wrote the old name
    old, new = tmp_path / "p.jsonl.config.json", tmp_path / "p.meta.json"
    new.rename(old)
    capsys.readouterr()
    assert main([*base, "--k", "5"]) == 2
    assert "differs in: k" in capsys.readouterr().err
    assert old.exists() and not new.exists() and out.read_text() == lines[0] + "\n"
    assert main([*base, "--k", "2"]) == 0
    assert out.read_text().splitlines() == lines
    assert not old.exists() and json.loads(new.read_text())["k"] == 2


def test_perturb_refuses_an_output_without_its_config(tmp_path, capsys):
    out = tmp_path / "p.jsonl"
    out.write_text('{"id": "d0", "text": "x", "perturbations": []}\n')
    capsys.readouterr()
    assert main(["perturb", "--data", str(BAD / "data_good.jsonl"), "--out", str(out), "--family", "token",
                 "--no-cache", "--quiet"]) == 2
    assert "has no p.meta.json" in capsys.readouterr().err


def test_corrupt_meta_beside_an_existing_output(model_dir, tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    args = ["score", "--model", str(model_dir), "--data", str(BAD / "data_good.jsonl"), "--out", str(out),
            "--k", "2", "--max-length", "32", "--quiet"]
    assert main(args) == 0
    out.with_name("s.meta.json").write_text('{"config": ')
    before = out.read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s.meta.json" in err[0] and "not valid JSON" in err[0]
    assert out.read_bytes() == before


def test_a_damaged_line_in_the_output_being_resumed_is_one_error(tmp_path, capsys):
    out = tmp_path / "p.jsonl"
    base = ["perturb", "--data", str(BAD / "data_good.jsonl"), "--out", str(out), "--family", "token",
            "--no-cache", "--quiet", "--k", "2"]
    assert main(base) == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(lines[0] + b'{"id": "d1", "text": "\xff"}\n')
    capsys.readouterr()
    assert main(base) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "p.jsonl:2: existing output line" in err[0]
