"""The paper's own NLI subsets built from SNLI test (sua.eval.derived), through the task file."""

from __future__ import annotations

from pathlib import Path

from sua.eval.derived import qualify
from sua.eval.tasks import gold_labels, load_split, load_task
from sua.perturb.constraints import modified_words


def test_modal_qualifier_rule(data_dir: Path) -> None:
    assert qualify("A man is playing a guitar.") == "A man may be playing a guitar."
    assert qualify("Two dogs are running and a cat is sleeping.") == \
        "Two dogs may be running and a cat is sleeping."
    assert qualify("A man plays guitar.") == "Possibly, a man plays guitar."
    task = load_task("nli")
    source = {ex.id: ex for ex in load_split(task, "test", data_dir, limit=60)}
    built = load_split(task, "modal_ambiguous", data_dir, limit=60)
    kept = [ex for ex in source.values() if ex.label in ("entailment", "contradiction")]
    assert len(built) == len(kept) > 0 and not any(ex.label for ex in built)
    spec = task.split("modal_ambiguous")
    for ex in built:
        original = source[ex.id.removesuffix("~modal")]
        assert ex.pair == original.pair and ex.text == qualify(original.text)
        assert gold_labels(ex, spec) == [original.label, "neutral"]


def test_premise_synonyms_are_validated_rewrites(data_dir: Path) -> None:
    task = load_task("nli")
    source = {ex.id: ex for ex in load_split(task, "test", data_dir, limit=30)}
    built = load_split(task, "premise_synonyms", data_dir, limit=30)
    assert 0.5 * len(source) <= len(built) <= len(source)
    for ex in built:
        original = source[ex.id.removesuffix("~syn")]
        assert ex.label == original.label and ex.pair == original.pair
        assert ex.text != original.text and ex.meta["original_premise"] == original.text
        assert 1 <= modified_words(original.text, ex.text) <= len(original.text.split()) / 2
    assert [ex.text for ex in load_split(task, "premise_synonyms", data_dir, limit=30)] == \
        [ex.text for ex in built]
