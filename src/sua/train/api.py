"""``train_model``: one call from data files to a trained Hugging Face model folder (for ``sua train``)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sua.errors import SUAInputError
from sua.io import iter_examples
from sua.models import default_backbone_path
from sua.scoring import versions
from sua.train.config import make_config
from sua.train.trainer import SUATrainer


@dataclass(frozen=True)
class TrainTask:
    """Fields of a task's JSONL records and its label order (``None``: sorted names in the data)."""

    text_field: str
    pair_field: str | None
    labels: tuple[str, ...] | None = None


#: Tasks ``train_model`` knows (the same field names as ``sua.eval.data.TASK_FIELDS``).
TRAIN_TASKS = {
    "nli": TrainTask("premise", "hypothesis", ("entailment", "neutral", "contradiction")),
    "classification": TrainTask("text", None),
}


def load_backbone(backbone: str | os.PathLike[str], labels: Sequence[str], *,
                  seed: int = 0) -> tuple[torch.nn.Module, Any]:
    """``(model, tokenizer)``: ``backbone`` with a fresh ``len(labels)``-way head (seeded init,
    eager attention, ``id2label`` set) and its tokenizer, all from local files."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = list(labels)
    torch.manual_seed(seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(backbone))
        model = AutoModelForSequenceClassification.from_pretrained(
            str(backbone), num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)}, attn_implementation="eager")
    except OSError as err:
        raise SUAInputError(f"cannot load the backbone {str(backbone)!r}: pass a local folder written "
                            f"by save_pretrained (default: the offline MiniLM) ({err})") from err
    return model, tokenizer


def train_model(
    task: str,
    method: str,
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    backbone: str | os.PathLike[str] | None = None,
    labels: Sequence[str] | None = None,
    limit: int | None = None,
    eval_data: str | os.PathLike[str] | None = None,
    eval_limit: int | None = 500,
    progress: bool = True,
    **options: Any,
) -> Path:
    """Fine-tune ``backbone`` (default: the offline MiniLM) on ``data`` with a named method or
    preset (``standard``, ``at``, ``sua-tr``, or a Table 3 ablation of
    :data:`~sua.train.config.PRESETS`); ``options`` override :class:`~sua.train.config.TrainConfig`
    fields (``epochs=2``, ``k_train=4``, ``save_every=50``, ...).

    Writes into ``out_dir``: ``config.json`` (task, data, backbone, labels, the full training
    config, versions), ``train_log.jsonl``, ``checkpoints/`` and, when training is done,
    ``model/`` (a Hugging Face folder with tokenizer and ``id2label``), whose path is returned.
    Running it again with the same arguments resumes an interrupted run from its latest
    checkpoint, or returns at once when ``model/`` is complete; other arguments on the same
    ``out_dir`` are an error. ``eval_data`` (first ``eval_limit`` records) is scored for the
    log every ``eval_every`` steps.
    """
    if task not in TRAIN_TASKS:
        raise SUAInputError(f"unknown task {task!r}; known: {', '.join(TRAIN_TASKS)}")
    spec = TRAIN_TASKS[task]
    config = make_config(method, **options)

    def load(path: str | os.PathLike[str], n: int | None) -> list:
        return list(iter_examples(path, text_field=spec.text_field, pair_field=spec.pair_field,
                                  limit=n))

    examples = load(data, limit)
    names = list(labels or spec.labels or sorted({ex.label for ex in examples if ex.label}))
    out = Path(out_dir)
    run = json.loads(json.dumps({  # as it reads back from config.json
        "task": task, "method": method, "data": str(data), "limit": limit,
        "backbone": str(backbone or "minilm-offline"), "labels": names,
        "eval_data": None if eval_data is None else str(eval_data), "eval_limit": eval_limit,
        "train": config.to_dict()}))
    model_dir, config_file = out / "model", out / "config.json"
    if config_file.exists():
        previous = json.loads(config_file.read_text(encoding="utf-8"))
        previous.pop("versions", None)
        if previous != run:
            changed = sorted(k for k in run if previous.get(k) != run[k])
            raise SUAInputError(f"{out} holds a run with other settings (differs in: "
                                f"{', '.join(changed)}); choose another output folder")
        if (model_dir / "config.json").exists():
            return model_dir
    out.mkdir(parents=True, exist_ok=True)
    config_file.write_text(json.dumps({**run, "versions": versions()}, indent=2), encoding="utf-8")

    model, tokenizer = load_backbone(backbone or default_backbone_path(), names, seed=config.seed)
    trainer = SUATrainer(model, tokenizer, names, config, out_dir=out, progress=progress)
    held_out = load(eval_data, eval_limit) if eval_data is not None else None
    classifier = trainer.fit(examples, eval_examples=held_out, resume=True)
    tmp = out / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    classifier.model.save_pretrained(tmp)
    classifier.tokenizer.save_pretrained(tmp)
    os.replace(tmp, model_dir)
    return model_dir
