"""SUA-TR in a Hugging Face Trainer: the loss on a fixed batch is SUATRLoss on that batch, a few
steps train, and the callback's S, H and SUA risk go through trainer.log."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import tiny_bert_config

import sua
from sua.errors import SUAInputError
from sua.inputs import Example
from sua.models import HFSequenceClassifier
from sua.perturb import get_perturber
from sua.train.hf_trainer import SUAMetricsCallback, SUATRCollator, SUATRTrainer
from sua.train.loss import SUATRLoss
from sua.train.rewrites import perturbed_inputs

datasets = pytest.importorskip("datasets")
transformers = pytest.importorskip("transformers")

NLI = ["entailment", "neutral", "contradiction"]
FIELDS = {"text_field": "premise", "pair_field": "hypothesis"}


@pytest.fixture()
def rows(snli_dev):
    keep = ("id", "premise", "hypothesis", "label")
    return [{k: r[k] for k in keep} for r in map(json.loads, snli_dev.read_text().splitlines()[:12])]


def tiny_nli(tokenizer):
    config = tiny_bert_config(tokenizer, dropout=0.0, max_positions=128, seed=0, num_labels=3,
                              id2label=dict(enumerate(NLI)), label2id={n: i for i, n in enumerate(NLI)})
    return transformers.BertForSequenceClassification(config)


def trainer_for(model, tokenizer, rows, tmp_path, eval_rows=None, **args):
    collator = SUATRCollator(tokenizer, k=2, label2id=model.config.label2id, max_length=64, **FIELDS)
    training = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, per_device_eval_batch_size=4,
        learning_rate=1e-2, report_to="none", save_strategy="no", disable_tqdm=True, seed=0,
        **{"remove_unused_columns": False, **args})
    return SUATRTrainer(model=model, args=training, data_collator=collator, processing_class=tokenizer,
                        train_dataset=datasets.Dataset.from_list(rows),
                        eval_dataset=None if eval_rows is None else datasets.Dataset.from_list(eval_rows),
                        sua_loss=SUATRLoss(alpha=1.0, beta=1.0, lam=0.1))


def test_trainer_loss_equals_suatr_loss_on_a_fixed_batch(tokenizer, rows, tmp_path):
    model = tiny_nli(tokenizer).eval()
    trainer = trainer_for(model, tokenizer, rows, tmp_path)
    batch = trainer.data_collator(rows[:4])
    with torch.no_grad():
        got = trainer.compute_loss(model, batch)
        # the reference: the same rewrites, tokenised and scored by hand, through SUATRLoss
        perturber = get_perturber("token")
        clean = [(r["premise"], r["hypothesis"]) for r in rows[:4]]
        rewrites = [x for r in rows[:4] for x in perturbed_inputs(
            Example(r["id"], r["premise"], r["hypothesis"]), perturber, 2, seed=0)]
        enc = dict(padding=True, truncation=True, max_length=64, return_tensors="pt")
        clean_logits = model(**tokenizer([a for a, _ in clean], [b for _, b in clean], **enc)).logits
        pert_logits = model(**tokenizer([a for a, _ in rewrites], [b for _, b in rewrites], **enc)).logits
        labels = torch.tensor([NLI.index(r["label"]) for r in rows[:4]])
        want = SUATRLoss(alpha=1.0, beta=1.0, lam=0.1)(clean_logits, labels, pert_logits.reshape(4, 2, 3))
    assert float(got) == pytest.approx(float(want.total), rel=1e-6)
    assert float(want.cons) > 0 and float(want.total) > float(want.task)  # the SUA terms count


def test_a_few_steps_train_and_the_callback_logs_sua_metrics(tokenizer, rows, tmp_path):
    model = tiny_nli(tokenizer)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = trainer_for(model, tokenizer, rows, tmp_path, eval_rows=rows[:4], max_steps=3,
                          logging_steps=1, eval_strategy="steps", eval_steps=3)
    callback = SUAMetricsCallback(trainer, rows[:6], k=2, **FIELDS)
    trainer.add_callback(callback)
    trainer.train()
    logged = trainer.state.log_history
    losses = [e["loss"] for e in logged if "loss" in e]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    sua_logs = [e for e in logged if "eval_sua_S" in e]
    assert len(sua_logs) == 1 and sua_logs[0]["step"] == 3
    now = callback.metrics()  # the model has not changed since that evaluation
    for key in ("eval_sua_S", "eval_sua_H", "eval_sua_risk", "eval_sua_accuracy"):
        assert sua_logs[0][key] == pytest.approx(now[key], abs=1e-9)
    records = sua.score(HFSequenceClassifier(model, tokenizer), rows[:6], sua.Fields(**FIELDS), k=2)
    assert now["eval_sua_S"] == pytest.approx(np.mean([r.sensitivity for r in records]))
    assert now["eval_sua_risk"] == pytest.approx(np.mean([max(r.sensitivity - r.entropy, 0.0)
                                                          for r, row in zip(records, rows[:6], strict=True)]))
    assert now["eval_sua_accuracy"] == np.mean([r.prediction == row["label"]
                                                for r, row in zip(records, rows[:6], strict=True)])


def test_text_columns_must_reach_the_collator(tokenizer, rows, tmp_path):
    with pytest.raises(SUAInputError, match="remove_unused_columns=False"):
        trainer_for(tiny_nli(tokenizer), tokenizer, rows, tmp_path, remove_unused_columns=True)


def test_the_collator_reads_the_row_fields_it_is_given(tokenizer, rows):
    batch = SUATRCollator(tokenizer, k=1, label2id={"entailment": 0, "neutral": 1, "contradiction": 2},
                          max_length=64, **FIELDS)(rows[:2])
    pairs = tokenizer([r["premise"] for r in rows[:2]], [r["hypothesis"] for r in rows[:2]], padding=True,
                      truncation=True, max_length=64, return_tensors="pt")
    assert torch.equal(batch["input_ids"], pairs["input_ids"])  # premise first, hypothesis second
    with pytest.raises(SUAInputError, match=r"unknown row field option\(s\) \['label_column'\]"):
        SUATRCollator(tokenizer, label_column="gold", **FIELDS)
