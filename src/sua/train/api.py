"""``train_model``: one call from data files to a trained Hugging Face model folder (for ``sua train``)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from sua.errors import SUAInputError
from sua.fingerprint import model_fingerprint
from sua.inputs import Example
from sua.io import iter_examples
from sua.manifest import require_same_config, versions, write_manifest
from sua.models import default_backbone_path
from sua.models.precision import resolve_device
from sua.outputs import guarded_output
from sua.tasks import TaskKind, get_kind
from sua.train.config import TrainConfig, complete_saved, make_config
from sua.train.heads import HEADS
from sua.train.parallel import check_nproc, is_main, run_processes
from sua.train.trainer import SUATrainer
from sua.validate import read_json_object


def load_backbone(backbone: str | os.PathLike[str], labels: Sequence[str] | None, *,
                  seed: int = 0, head: str = "classification") -> tuple[torch.nn.Module, Any]:
    """``(model, tokenizer)``: ``backbone`` with a fresh head (seeded init, eager attention) and
    its tokenizer, all from local files: a ``len(labels)``-way classifier (``id2label`` set), or
    with ``head="qa"`` an ``AutoModelForQuestionAnswering`` (start/end logits; ``labels`` unused)."""
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification, AutoTokenizer

    from sua.models.remote_code import NO_REMOTE_CODE, refuse_remote_code

    torch.manual_seed(seed)
    refuse_remote_code(backbone)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(backbone), **NO_REMOTE_CODE)
        if head == "qa":
            model = AutoModelForQuestionAnswering.from_pretrained(str(backbone), attn_implementation="eager",
                                                                  **NO_REMOTE_CODE)
        else:
            labels = list(labels or [])
            model = AutoModelForSequenceClassification.from_pretrained(
                str(backbone), num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={name: i for i, name in enumerate(labels)}, attn_implementation="eager",
                **NO_REMOTE_CODE)
    except (OSError, ValueError, KeyError) as err:
        raise SUAInputError(f"cannot load the backbone {str(backbone)!r}: pass a local folder written "
                            f"by save_pretrained (default: the offline MiniLM) ({err})") from err
    return model, tokenizer


def train_model(
    task: str | TaskKind,
    method: str,
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    backbone: str | os.PathLike[str] | None = None,
    labels: Sequence[str] | None = None,
    limit: int | None = None,
    eval_data: str | os.PathLike[str] | None = None,
    eval_limit: int | None = 500,
    device: str | None = None,
    progress: bool = True,
    nproc: int = 1,
    **options: Any,
) -> Path:
    """Fine-tune ``backbone`` (default: the offline MiniLM) for ``task`` (a
    :class:`~sua.tasks.TaskKind` with a trainable head, or a built-in kind's name: ``nli``,
    ``classification``, or ``qa`` — extractive QA on SQuAD-style records, whose ``model/`` is an
    ``AutoModelForQuestionAnswering`` folder; the rewritten side is the kind's ``rewrite``) on
    ``data`` with a named method or preset (``standard``, ``at``, ``sua-tr``, or a Table 3 ablation of
    :data:`~sua.train.config.PRESETS`); ``options`` override :class:`~sua.train.config.TrainConfig`
    fields (``epochs=2``, ``k_train=4``, ``save_every=50``, ...).

    Writes into ``out_dir``: ``config.json`` (task, data, backbone, labels, the full training
    config, versions), ``train_log.jsonl``, ``checkpoints/`` and, when training is done,
    ``model/`` (a Hugging Face folder with tokenizer and ``id2label``), whose path is returned.
    Running it again with the same arguments resumes an interrupted run from its latest
    checkpoint, or returns at once when ``model/`` is complete; other arguments on the same
    ``out_dir`` are an error. ``eval_data`` (first ``eval_limit`` records) is scored for the
    log every ``eval_every`` steps. ``device`` (cpu, cuda, auto) is where training runs; it is
    written into ``config.json`` but a run may resume on another device. ``nproc > 1`` trains
    data-parallel in that many processes (:mod:`sua.train.parallel`: the same global batch and
    steps; the first process writes the files).
    """
    spec = get_kind(task)
    if spec.head not in HEADS:
        raise SUAInputError(f"task {spec.name!r} ({spec.head} head) cannot be trained; trainable heads: "
                            f"{', '.join(HEADS)}")
    check_nproc(nproc)
    config = make_config(method, **{"perturb_field": spec.rewrite, **options})

    def load(path: str | os.PathLike[str], n: int | None) -> list:
        return list(iter_examples(path, text_field=spec.text_field, pair_field=spec.pair_field,
                                  label_field=spec.label_field, limit=n))

    examples = load(data, limit)
    if not examples:
        raise SUAInputError(f"{data} has no records to train on; pass a file with at least one example")
    names = None if spec.head == "qa" else \
        list(labels or spec.labels or sorted({ex.label for ex in examples if ex.label}))
    out = Path(out_dir)
    run = json.loads(json.dumps({  # as it reads back from config.json
        "task": spec.name, "method": method, "data": str(data), "limit": limit,
        "backbone": str(backbone or "minilm-offline"),
        "backbone_fingerprint": model_fingerprint(backbone or default_backbone_path()), "labels": names,
        "eval_data": None if eval_data is None else str(eval_data), "eval_limit": eval_limit,
        "train": config.to_dict()}))
    model_dir, config_file = out / "model", out / "config.json"
    with guarded_output(out, data, eval_data):
        if config_file.exists():
            previous = read_json_object(config_file, "run config")
            previous.pop("versions", None)
            previous.pop("device", None)
            if isinstance(previous.get("train"), dict):
                previous["train"] = complete_saved(previous["train"], spec.rewrite)
            require_same_config(previous, run, f"{out} holds a run with other settings",
                                "choose another output folder")
            if (model_dir / "config.json").exists():
                return model_dir
        dev = resolve_device(device)
        write_manifest(config_file, {**run, "device": str(dev), "versions": versions()})

        held_out = load(eval_data, eval_limit) if eval_data is not None else None
        fit = (backbone or default_backbone_path(), names, spec.head, config, examples, held_out, out,
               progress, dev)
        if nproc == 1:
            _fit_and_save(*fit)
        else:
            run_processes(nproc, _fit_and_save, *fit)
    return model_dir


def _fit_and_save(backbone: str | os.PathLike[str], labels: list[str] | None, head: str,
                  config: TrainConfig, examples: list[Example], held_out: list[Example] | None,
                  out: Path, progress: bool, device: torch.device) -> None:
    """Train (resuming from ``out``'s checkpoints) and write ``out/model`` (the first process)."""
    model, tokenizer = load_backbone(backbone, labels, seed=config.seed, head=head)
    trainer = SUATrainer(model, tokenizer, labels, config, out_dir=out, progress=progress and is_main(),
                         head=head, device=device)
    classifier = trainer.fit(examples, eval_examples=held_out, resume=True)
    if not is_main():
        return
    tmp = out / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    classifier.model.save_pretrained(tmp)
    classifier.tokenizer.save_pretrained(tmp)
    os.replace(tmp, out / "model")
