"""One task registry: every command's --task takes the same names and files, `sua score` scores
every kind by name, bad tasks are one error line, and score and train rewrite the same side."""

from __future__ import annotations

import argparse
import json
from difflib import SequenceMatcher
from importlib import resources
from pathlib import Path

import pytest
from conftest import tiny_bert_config

from sua.cli import build_parser, main
from sua.eval.tasks import load_task, resolve_task, task_choices, task_kind
from sua.measures import exact_match
from sua.scoring import meta_path_for
from sua.tasks import KINDS

COMMANDS = ("score", "perturb", "train", "reproduce")
NLI = ("entailment", "neutral", "contradiction")

#: An NLI task file that rewrites the premise (the first text), where `auto` would pick the pair.
PREMISE_TASK = """
name = "premise-nli"
version = 1
kind = "classification"
labels = ["entailment", "neutral", "contradiction"]
text_field = "premise"
pair_field = "hypothesis"
perturb_field = "text"

[splits.test]
role = "in-domain"
source = "nli/snli/dev.jsonl"
"""


def _similar(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _task_option(parser: argparse.ArgumentParser, command: str) -> argparse.Action:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in sub.choices[command]._actions if "--task" in a.option_strings)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the registry --------------------------------------------------------------------------------

def test_task_names_are_the_kinds_and_the_shipped_task_files():
    folder = resources.files("sua.eval") / "configs" / "tasks"
    shipped = {p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")}
    assert set(task_choices()) == set(KINDS) | shipped
    assert {"nli", "topic", "qa", "qa-generative"} <= set(task_choices())
    for name in task_choices():
        assert resolve_task(name).name == name


@pytest.mark.parametrize("name", ["nli", "qa"])
def test_a_built_in_kind_agrees_with_the_task_file_of_its_name(name):
    built_in, from_file = KINDS[name], task_kind(load_task(name))
    fields = ("text_field", "pair_field", "head", "rewrite", "labels", "label_field", "answers_field")
    assert [getattr(built_in, f) for f in fields] == [getattr(from_file, f) for f in fields]


def test_a_task_file_says_which_side_is_rewritten(tmp_path):
    assert resolve_task("topic").rewrite == "text"
    assert (resolve_task("nli").rewrite, resolve_task("qa").rewrite) == ("pair", "pair")
    toml = tmp_path / "premise.toml"
    toml.write_text(PREMISE_TASK)
    kind = resolve_task(toml)
    assert (kind.name, kind.rewrite, kind.rewritten_field) == ("premise-nli", "text", "premise")
    assert kind.labels == NLI


# -- the CLI: the same --task everywhere ------------------------------------------------------------

def test_every_command_takes_the_same_task_names_with_the_same_help(tmp_path):
    parser = build_parser()
    toml = tmp_path / "premise.toml"
    toml.write_text(PREMISE_TASK)
    required = {"score": ["--out", "o.jsonl"], "perturb": ["--data", "d", "--out", "o"],
                "train": ["--data", "d", "--out", "o"], "reproduce": ["table2"]}
    helps = {command: _task_option(parser, command).help for command in COMMANDS}
    shared = helps["score"].split(" (default:")[0]
    assert all(h.startswith(shared) for h in helps.values())
    assert all(name in shared for name in task_choices())
    assert all(_task_option(parser, command).choices is None for command in COMMANDS)  # files too
    for value in [*task_choices(), str(toml)]:
        for command in COMMANDS:
            args = parser.parse_args([command, *required[command], "--task", value])
            assert args.task == ([value] if command == "reproduce" else value)


BAD_QA_TASK = PREMISE_TASK.replace('kind = "classification"', 'kind = "qa"\nanswers_field = "answers"')


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", ["unknown", "corrupt", "qa rewriting the context"])
def test_an_unknown_or_corrupt_task_is_one_error_line_and_exit_2(command, bad, snli_dev, tmp_path, capsys):
    toml = tmp_path / "task.toml"
    toml.write_text("name = [unclosed\n" if bad == "corrupt" else BAD_QA_TASK)
    value = "no-such-task" if bad == "unknown" else str(toml)
    out = tmp_path / "out"
    args = {"score": ["--model", "m", "--data", str(snli_dev), "--out", str(out)],
            "perturb": ["--data", str(snli_dev), "--out", str(out)],
            "train": ["--data", str(snli_dev), "--out", str(out)],
            "reproduce": ["table2", "--out", str(out)]}[command]
    capsys.readouterr()
    assert main([command, *args, "--task", value]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sua {command}: error: "), captured.err
    expected = {"unknown": "unknown task 'no-such-task'", "corrupt": "not valid TOML",
                "qa rewriting the context": "rewrites only the question"}[bad]
    assert expected in lines[0]
    assert not out.exists()


def test_reproduce_refuses_a_task_its_profile_does_not_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reproduce", "table2", "--out", str(out), "--task", "qa-generative"]) == 2
    assert "has no task 'qa-generative'" in capsys.readouterr().err
    assert not out.exists()


# -- sua score --task qa and --task topic, by name, end to end ---------------------------------------

@pytest.fixture(scope="module")
def tiny_qa_dir(tokenizer, tmp_path_factory) -> Path:
    from transformers import BertForQuestionAnswering

    out = tmp_path_factory.mktemp("tiny-qa")
    config = tiny_bert_config(tokenizer, dropout=0.0, max_positions=512, seed=0)
    BertForQuestionAnswering(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _tiny_classifier(tokenizer, out: Path, labels: tuple[str, ...]) -> Path:
    from transformers import BertForSequenceClassification

    config = tiny_bert_config(tokenizer, dropout=0.0, max_positions=512, seed=0, num_labels=len(labels),
                              id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_topic_dir(tokenizer, tmp_path_factory) -> Path:
    return _tiny_classifier(tokenizer, tmp_path_factory.mktemp("tiny-topic"), load_task("topic").labels)


@pytest.fixture(scope="module")
def tiny_nli_dir(tokenizer, tmp_path_factory) -> Path:
    return _tiny_classifier(tokenizer, tmp_path_factory.mktemp("tiny-nli"), NLI)


def test_score_task_qa_by_name(tiny_qa_dir, data_dir, tmp_path):
    data, out = data_dir / "qa" / "squad" / "dev.jsonl", tmp_path / "qa.jsonl"
    assert main(["score", "--model", str(tiny_qa_dir), "--task", "qa", "--data", str(data), "--limit", "3",
                 "--k", "2", "--max-length", "128", "--out", str(out), "--quiet"]) == 0
    gold = [json.loads(line) for line in data.read_text().splitlines()[:3]]
    records = _records(out)
    assert [r["id"] for r in records] == [g["id"] for g in gold]
    for r, g in zip(records, gold):
        assert r["label"] == g["answers"]["text"][0]
        assert r["correct"] == bool(exact_match(r["prediction"], g["answers"]["text"]))
        assert sum(r["probs"]) == pytest.approx(1.0)
        assert len(r["perturbations"]) == 2
        for p in r["perturbations"]:  # the question is rewritten, the context kept
            assert _similar(p["text"], g["question"]) > 0.6 > _similar(p["text"], g["context"])
    config = json.loads(meta_path_for(out).read_text())["config"]
    assert (config["task"], config["perturb_field"]) == ("qa", "pair")


def test_score_task_qa_allow_empty_writes_an_empty_output(tiny_qa_dir, tmp_path):
    empty, out = tmp_path / "empty.jsonl", tmp_path / "qa.jsonl"
    empty.write_text("")
    assert main(["score", "--model", str(tiny_qa_dir), "--task", "qa", "--data", str(empty),
                 "--allow-empty", "--out", str(out), "--quiet"]) == 0
    assert out.read_text() == ""


def test_score_task_topic_by_name(tiny_topic_dir, data_dir, tmp_path):
    data, out = data_dir / "topic" / "ag_news" / "test.jsonl", tmp_path / "topic.jsonl"
    assert main(["score", "--model", str(tiny_topic_dir), "--task", "topic", "--data", str(data),
                 "--limit", "4", "--k", "2", "--out", str(out), "--quiet"]) == 0
    gold = [json.loads(line) for line in data.read_text().splitlines()[:4]]
    records = _records(out)
    assert [(r["id"], r["label"]) for r in records] == [(g["id"], g["label"]) for g in gold]
    for r, g in zip(records, gold):
        assert r["prediction"] in load_task("topic").labels
        assert r["correct"] == (r["prediction"] == g["label"])
        assert all(_similar(p["text"], g["text"]) > 0.8 for p in r["perturbations"])
    config = json.loads(meta_path_for(out).read_text())["config"]
    assert (config["task"], config["perturb_field"], config["text_field"]) == ("topic", "text", "text")


# -- score and train rewrite the same side -----------------------------------------------------------

@pytest.mark.parametrize("task", ["nli", "premise-nli"])
def test_score_and_train_rewrite_the_same_side(task, tokenizer, tiny_nli_dir, snli_dev, tmp_path,
                                               monkeypatch):
    """The side a task rewrites (the hypothesis for nli, the premise for a task file saying so) is
    the one `sua score` rewrites and the one `sua train` draws its SUA-TR rewrites of."""
    from transformers import BertModel

    import sua.train.trainer as trainer

    value = task
    if task == "premise-nli":
        value = str(tmp_path / "premise.toml")
        Path(value).write_text(PREMISE_TASK)
    side = resolve_task(value).rewrite
    gold = [json.loads(line) for line in snli_dev.read_text().splitlines()[:4]]

    scores = tmp_path / "scores.jsonl"
    assert main(["score", "--model", str(tiny_nli_dir), "--task", value, "--data", str(snli_dev),
                 "--limit", "4", "--k", "2", "--out", str(scores), "--quiet"]) == 0
    rewritten, kept = ("hypothesis", "premise") if side == "pair" else ("premise", "hypothesis")
    for r, g in zip(_records(scores), gold, strict=True):
        for p in r["perturbations"]:
            assert _similar(p["text"], g[rewritten]) > _similar(p["text"], g[kept])

    drawn = []

    def recording(*args, **kwargs):
        rows = draw_rewrites(*args, **kwargs)
        drawn.extend(rows)
        return rows

    draw_rewrites = trainer.draw_rewrites
    monkeypatch.setattr(trainer, "draw_rewrites", recording)
    backbone = tmp_path / "backbone"
    BertModel(tiny_bert_config(tokenizer, dropout=0.0, max_positions=512, seed=0)).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    run = tmp_path / "run"
    assert main(["train", "--task", value, "--method", "sua-tr", "--model", str(backbone), "--data",
                 str(snli_dev), "--limit", "4", "--epochs", "1", "--batch-size", "4", "--k-train", "2",
                 "--out", str(run), "--quiet"]) == 0
    by_text = {(g["premise"], g["hypothesis"]) for g in gold}
    assert drawn
    for row in drawn:
        for premise, hypothesis in row:  # one segment kept exactly as in the data, the other rewritten
            if side == "pair":
                assert any(premise == p for p, _ in by_text)
            else:
                assert any(hypothesis == h for _, h in by_text)
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["perturb_field"] == side
    assert json.loads(meta_path_for(scores).read_text())["config"]["perturb_field"] == side
