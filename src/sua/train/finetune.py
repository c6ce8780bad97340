"""Standard fine-tuning (L = L_task, the α = β = 0 case of SUA-TR) of a Hugging Face
sequence classifier: the quick path behind ``sua demo``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sua.inputs import Example
from sua.models import HFSequenceClassifier
from sua.train.api import load_backbone
from sua.train.config import make_config
from sua.train.trainer import SUATrainer


def finetune_classifier(
    backbone: str | os.PathLike[str],
    examples: Sequence[Example],
    labels: Sequence[str],
    *,
    epochs: float = 1.0,
    batch_size: int = 32,
    lr: float = 5e-5,
    max_length: int = 128,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    train_precision: str = "fp32",
    progress: bool = True,
) -> HFSequenceClassifier:
    """Fine-tune ``backbone`` with a fresh classification head on ``examples``.

    Minimises L_task = E[−log p_θ(y|x)] (eq. 16) with :class:`~sua.train.SUATrainer` and the
    ``standard`` preset: AdamW, linear warm-up over the first 10 % of steps then linear
    decay, seeded per-epoch orders; ``epochs`` may be fractional. Saves a Hugging Face folder
    (weights, tokenizer, ``id2label``) to ``out_dir`` when given and returns the model wrapped
    as a :class:`~sua.models.HFSequenceClassifier` on ``device`` (cpu, cuda, auto);
    ``train_precision`` (fp32, bf16) is the training steps' arithmetic.
    """
    model, tokenizer = load_backbone(backbone, labels, seed=seed)
    config = make_config("standard", epochs=epochs, batch_size=batch_size, lr=lr,
                         max_length=max_length, seed=seed, precision=train_precision)
    classifier = SUATrainer(model, tokenizer, labels, config, progress=progress,
                            device=device).fit(examples)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        classifier.model.save_pretrained(out_dir)
        classifier.tokenizer.save_pretrained(out_dir)
    return classifier
