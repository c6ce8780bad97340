"""``train_model``: one call from data files to a trained Hugging Face model folder (``sua train``,
``sua demo`` and the experiment runner's units train through it)."""

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
from sua.fingerprint import model_fingerprint
from sua.inputs import Example
from sua.io import iter_examples
from sua.manifest import require_same_config, versions, write_manifest
from sua.models import default_backbone_path
from sua.models.precision import effective_precision, resolve_device
from sua.outputs import guarded_output
from sua.tasks import TaskKind, get_kind
from sua.train.config import Runtime, TrainConfig, TrainData, complete_saved, make_config
from sua.train.heads import HEADS
from sua.train.parallel import is_main, run_processes
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
    data: str | os.PathLike[str] | TrainData,
    out_dir: str | os.PathLike[str],
    *,
    backbone: str | os.PathLike[str] | None = None,
    labels: Sequence[str] | None = None,
    runtime: Runtime | None = None,
    **options: Any,
) -> Path:
    """Fine-tune ``backbone`` (default: the offline MiniLM) for ``task`` (a
    :class:`~sua.tasks.TaskKind` with a trainable head, or a built-in kind's name: ``nli``,
    ``classification``, or ``qa`` — extractive QA on SQuAD-style records, whose ``model/`` is an
    ``AutoModelForQuestionAnswering`` folder; the rewritten side is the kind's ``rewrite``) on
    ``data`` (a JSONL file or hub source, or a :class:`~sua.train.config.TrainData` with a record
    limit and held-out data) with a named method or preset (``standard``, ``at``, ``sua-tr``, or a
    Table 3 ablation of :data:`~sua.train.config.PRESETS`); ``options`` override
    :class:`~sua.train.config.TrainConfig` fields (``epochs=2``, ``k_train=4``, ``save_every=50``,
    ...). ``labels``: the class names (default: the task's, else the sorted labels of the data).

    Writes into ``out_dir``: ``config.json`` (the run manifest: task, data, backbone, labels, the
    full training config, device, ``precision_run``: the precision it ran at,
    :func:`~sua.models.precision.effective_precision`, versions), ``train_log.jsonl``,
    ``checkpoints/`` and, when training is done, ``model/`` (a Hugging Face folder with tokenizer
    and ``id2label``), whose path is returned. Running it again with the same arguments resumes an
    interrupted run from its latest checkpoint, or returns at once when ``model/`` is complete;
    other arguments on the same ``out_dir`` are an error. The held-out records (``data.eval_path``)
    are scored for the log every ``eval_every`` steps. ``runtime``
    (:class:`~sua.train.config.Runtime`, default: auto device, progress bar, one process) says where
    training runs (the device is written into ``config.json``, but a run may resume on another) and
    in how many data-parallel processes (the first one writes the files).
    """
    spec = get_kind(task)
    if spec.head not in HEADS:
        raise SUAInputError(f"task {spec.name!r} ({spec.head} head) cannot be trained; trainable heads: "
                            f"{', '.join(HEADS)}")
    data = data if isinstance(data, TrainData) else TrainData(data)
    runtime = runtime or Runtime()
    config = make_config(method, **{"perturb_field": spec.rewrite, **options})
    examples = _read(spec, data.path, data.limit)
    if not examples:
        raise SUAInputError(f"{data.path} has no records to train on; pass a file with at least one example")
    names = None if spec.head == "qa" else \
        list(labels or spec.labels or sorted({ex.label for ex in examples if ex.label}))
    out = Path(out_dir)
    run = _manifest(spec, method, data, backbone, names, config)
    model_dir, config_file = out / "model", out / "config.json"
    with guarded_output(out, data.path, data.eval_path):
        if config_file.exists():
            _require_same_run(config_file, run, spec.rewrite, out)
            if (model_dir / "config.json").exists():
                return model_dir
        dev = resolve_device(runtime.device)
        write_manifest(config_file, {**run, "device": str(dev), "versions": versions(),
                                     "precision_run": effective_precision(config.precision, dev)})
        held_out = _read(spec, data.eval_path, data.eval_limit) if data.eval_path is not None else None
        job = _FitJob(str(backbone or default_backbone_path()), names, spec.head, config, examples,
                      held_out, out, runtime.progress, dev)
        if runtime.nproc == 1:
            _fit_and_save(job)
        else:
            run_processes(runtime.nproc, _fit_and_save, job)
    return model_dir


def _read(spec: TaskKind, path: str | os.PathLike[str], limit: int | None) -> list[Example]:
    """The first ``limit`` examples of ``path`` in the task's record fields."""
    return list(iter_examples(path, text_field=spec.text_field, pair_field=spec.pair_field,
                              label_field=spec.label_field, limit=limit))


def _manifest(spec: TaskKind, method: str, data: TrainData, backbone: str | os.PathLike[str] | None,
              labels: list[str] | None, config: TrainConfig) -> dict[str, Any]:
    """What determines a run's weights, as it reads back from ``config.json``."""
    return json.loads(json.dumps({
        "task": spec.name, "method": method, "data": str(data.path), "limit": data.limit,
        "backbone": str(backbone or "minilm-offline"),
        "backbone_fingerprint": model_fingerprint(backbone or default_backbone_path()), "labels": labels,
        "eval_data": None if data.eval_path is None else str(data.eval_path), "eval_limit": data.eval_limit,
        "train": config.to_dict()}))


def _require_same_run(config_file: Path, run: dict[str, Any], rewrite: str, out: Path) -> None:
    """Refuse to continue the run recorded in ``config_file`` with other settings (the device,
    the precision it ran at and versions may differ; a config saved by an older version is
    completed first)."""
    previous = read_json_object(config_file, "run config")
    for machine in ("versions", "device", "precision_run"):
        previous.pop(machine, None)
    if isinstance(previous.get("train"), dict):
        previous["train"] = complete_saved(previous["train"], rewrite)
    require_same_config(previous, run, f"{out} holds a run with other settings",
                        "choose another output folder")


@dataclass(frozen=True)
class _FitJob:
    """One training job of :func:`train_model`, as each data-parallel process receives it."""

    backbone: str
    labels: list[str] | None
    head: str
    config: TrainConfig
    examples: list[Example]
    held_out: list[Example] | None
    out: Path
    progress: bool
    device: torch.device


def _fit_and_save(job: _FitJob) -> None:
    """Train (resuming from ``job.out``'s checkpoints) and write ``job.out/model`` (the first
    process; a ``model/`` left by an unfinished run is replaced)."""
    model, tokenizer = load_backbone(job.backbone, job.labels, seed=job.config.seed, head=job.head)
    trainer = SUATrainer(model, tokenizer, job.labels, job.config, out_dir=job.out,
                         progress=job.progress and is_main(), device=job.device)
    classifier = trainer.fit(job.examples, eval_examples=job.held_out, resume=True)
    if not is_main():
        return
    tmp, final = job.out / "model.tmp", job.out / "model"
    shutil.rmtree(tmp, ignore_errors=True)
    classifier.model.save_pretrained(tmp)
    classifier.tokenizer.save_pretrained(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
