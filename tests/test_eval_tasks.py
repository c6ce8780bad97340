"""Task files over the real data: splits, partitions, label maps, samples; label groups;
validation-fitted failure scores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from sua.errors import SUAInputError
from sua.eval.failure_scores import failure_scores, fit_scores, temperature_scaled
from sua.eval.tasks import gold_labels, iter_split, load_split, load_task, partition_of, task_names
from sua.models import CallableModel, GroupedLabels


def test_every_shipped_task_loads_with_its_roles() -> None:
    assert set(task_names()) >= {"nli", "topic", "topic20ng", "qa"}
    for name in task_names():
        task = load_task(name)
        roles = {s.role for s in task.splits.values()}
        assert {"train", "validation", "in-domain", "shift"} <= roles, name


def test_squad_partition_keeps_each_article_in_one_part(data_dir: Path) -> None:
    task = load_task("qa")
    titles = {part: {ex.meta["title"] for ex in iter_split(task, part, data_dir)}
              for part in ("train", "validation", "test")}
    assert not titles["train"] & titles["validation"]
    assert not titles["train"] & titles["test"]
    assert not titles["validation"] & titles["test"]
    total = sum(1 for _ in open(data_dir / "qa/squad/dev.jsonl", encoding="utf-8"))
    assert sum(len(list(iter_split(task, p, data_dir))) for p in titles) == total


def test_ag_news_parts_are_disjoint_cover_the_file_and_follow_the_fractions(data_dir: Path) -> None:
    task = load_task("topic")
    ids = {p: [ex.id for ex in iter_split(task, p, data_dir)] for p in ("train", "validation", "test")}
    everything = [p for v in ids.values() for p in v]
    assert len(everything) == len(set(everything)) == 7600
    assert abs(len(ids["train"]) / 7600 - 0.7) < 0.03 and abs(len(ids["test"]) / 7600 - 0.2) < 0.03


def test_bbc_shift_maps_four_topics_and_drops_entertainment(data_dir: Path) -> None:
    task = load_task("topic")
    counts = Counter(ex.label for ex in iter_split(task, "bbc_news", data_dir))
    raw = Counter()
    for name in ("train", "test"):
        with open(data_dir / f"topic/bbc_news/{name}.jsonl", encoding="utf-8") as fh:
            raw.update(json.loads(line)["label"] for line in fh)
    assert set(counts) == set(task.labels)
    assert sum(counts.values()) == sum(raw.values()) - raw["entertainment"]
    assert counts["Sci/Tech"] == raw["tech"] and counts["World"] == raw["politics"]


def test_20ng_shift_uses_other_subgroups_than_training(data_dir: Path) -> None:
    task = load_task("topic20ng")
    seen = set(task.split("train").label_map)
    unseen = set(task.split("unseen_subgroups").label_map)
    assert not seen & unseen
    assert set(task.split("unseen_subgroups").label_map.values()) == set(task.labels)


def test_samples_are_fixed_and_ignore_file_order(data_dir: Path) -> None:
    task = load_task("nli")
    a = load_split(task, "test", data_dir, limit=50)
    b = load_split(task, "test", data_dir, limit=50)
    assert [ex.id for ex in a] == [ex.id for ex in b] and len(a) == 50
    assert [ex.id for ex in a] != [ex.id for ex in load_split(task, "test", data_dir)[:50]]  # not a prefix
    other = load_split(task, "test", data_dir, limit=50, sample_seed=1)
    assert {ex.id for ex in other} != {ex.id for ex in a}


def test_ambient_gold_labels_and_epistemic_groups(data_dir: Path) -> None:
    task = load_task("nli")
    amb = task.split("ambient")
    multi = [ex for ex in iter_split(task, amb, data_dir) if ex.label is None]
    assert multi and all(len(gold_labels(ex, amb)) >= 2 for ex in multi)
    assert task.split("epistemic").label_groups == {"entailment": ["entailment"],
                                                    "non-entailment": ["neutral", "contradiction"]}


def test_partition_is_a_pure_function_of_group_and_seed() -> None:
    parts = {"a": 0.5, "b": 0.5}
    assert partition_of("x", parts, 0) == partition_of("x", parts, 0)
    share = np.mean([partition_of(str(i), parts, 3) == "a" for i in range(4000)])
    assert abs(share - 0.5) < 0.03


@pytest.mark.parametrize("text, match", [
    ("name='t'\nversion=1\nkind='classification'\nlabels=['a']\ntext_field='x'\n[splits.s]\nrole='test'\nsource='f'",
     "role must be one of"),
    ("name='t'\nversion=1\nkind='regression'\ntext_field='x'\n[splits.s]\nrole='train'\nsource='f'",
     "kind must be one of"),
    ("name='t'\nversion=1\nkind='classification'\nlabels=['a']\ntext_field='x'\n[splits.s]\nrole='train'\n"
     "partition='p'\ntake='a'", "unknown partition"),
    ("name='t'\nversion=1\nkind='classification'\nlabels=['a']\ntext_field='x'\n[splits.s]\nrole='train'\n"
     "source='f'\nlabelmap={}", "unknown key"),
    ("name = [", "not valid TOML"),
])
def test_bad_task_files_name_the_problem(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SUAInputError, match=match):
        load_task(path)


def test_unknown_task_and_missing_file() -> None:
    with pytest.raises(SUAInputError, match="unknown task"):
        load_task("nope")
    with pytest.raises(SUAInputError, match="does not exist"):
        load_task("/nonexistent/task.toml")


def test_grouped_labels_sum_probabilities() -> None:
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    model = CallableModel(lambda xs: probs[: len(xs)], labels=["entailment", "neutral", "contradiction"])
    grouped = GroupedLabels(model, {"entailment": ["entailment"],
                                    "non-entailment": ["neutral", "contradiction"]})
    assert grouped.labels == ["entailment", "non-entailment"]
    np.testing.assert_allclose(grouped.predict_proba(["a", "b"]), [[0.2, 0.8], [0.6, 0.4]])
    with pytest.raises(SUAInputError, match="exactly once"):
        GroupedLabels(model, {"entailment": ["entailment", "neutral"], "x": ["neutral", "contradiction"]})


def _records(rng: np.random.Generator, n: int) -> list[dict]:
    labels = ["a", "b", "c"]
    logits = rng.normal(size=(n, 3)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in probs])  # calibrated: wrong ↔ high entropy
    out = []
    for p, t in zip(probs, y):
        h = float(-(p * np.log(p)).sum())
        s = float(rng.uniform(0, 0.2))
        out.append({"probs": p.tolist(), "label": labels[t], "correct": bool(p.argmax() == t),
                    "sensitivity": s, "entropy": h, "max_prob": float(p.max()), "sua": s - h})
    return out


def test_fitted_scores_against_independent_computations() -> None:
    rng = np.random.default_rng(0)
    val, test = _records(rng, 400), _records(rng, 300)
    fitted = fit_scores(val, ["a", "b", "c"])
    scores = failure_scores(test, fitted, agreement=np.full(len(test), 0.5))
    s = np.array([r["sensitivity"] for r in test])
    h = np.array([r["entropy"] for r in test])
    np.testing.assert_allclose(scores["SUA (λ=1)"], s - h)
    np.testing.assert_allclose(scores["SUA (λ from val.)"], s - fitted.lam * h)
    # the combined rule: max of the two validation-ECDF values, each a share in [0, 1]
    sua_val = np.array([r["sensitivity"] - r["entropy"] for r in val])
    expect = np.maximum([(sua_val <= v).mean() for v in s - h],
                        [(np.array([r["entropy"] for r in val]) <= v).mean() for v in h])
    np.testing.assert_allclose(scores["combined (App. C)"], expect)
    # temperature scaling of log-probabilities equals torch softmax(logits / T)
    logp = torch.log(torch.tensor([r["probs"] for r in test], dtype=torch.float64))
    np.testing.assert_allclose(temperature_scaled(test, fitted.temperature),
                               torch.softmax(logp / fitted.temperature, -1).numpy(), atol=1e-12)
    # the logistic score is a probability and beats chance on this data (wrong ↔ high entropy)
    wrong = np.array([not r["correct"] for r in test])
    assert roc_auc_score(wrong, scores["logistic (S, H)"]) > 0.6
    assert "1 − self-consistency" in scores and np.allclose(scores["1 − self-consistency"], 0.5)
