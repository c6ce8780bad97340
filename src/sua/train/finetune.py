"""Standard fine-tuning (L = L_task, the α = β = 0 case of SUA-TR) of a Hugging Face
sequence classifier: the quick path behind ``sua demo``."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from sua.errors import SUAInputError
from sua.inputs import Example
from sua.models import HFSequenceClassifier


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
    progress: bool = True,
) -> HFSequenceClassifier:
    """Fine-tune ``backbone`` with a fresh classification head on ``examples``.

    Minimises L_task = E[−log p_θ(y|x)] (eq. 16) with AdamW, linear warm-up over the first
    10 % of steps then linear decay; mini-batches are drawn by a seeded permutation.
    ``epochs`` may be fractional. Saves a Hugging Face folder (weights, tokenizer,
    ``id2label``) to ``out_dir`` when given and returns the model wrapped as a
    :class:`~sua.models.HFSequenceClassifier`.
    """
    labels = list(labels)
    index = {name: i for i, name in enumerate(labels)}
    bad = [ex.id for ex in examples if ex.label not in index]
    if bad:
        raise SUAInputError(f"{len(bad)} training examples have no label in {labels} "
                            f"(first: {bad[0]!r})")
    if not examples:
        raise SUAInputError("no training examples")
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(backbone), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id=index, attn_implementation="eager")
    model.train()

    rng = np.random.default_rng(seed)
    n_steps = max(1, math.ceil(epochs * len(examples) / batch_size))
    order = np.concatenate([rng.permutation(len(examples))
                            for _ in range(math.ceil(n_steps * batch_size / len(examples)))])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, n_steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (n_steps - s) / (n_steps - warmup + 1))))

    bar = tqdm(range(n_steps), disable=not progress, desc="fine-tuning", unit="step")
    for step in bar:
        batch = [examples[i] for i in order[step * batch_size:(step + 1) * batch_size]]
        firsts = [ex.text for ex in batch]
        seconds = [ex.pair for ex in batch] if batch[0].pair is not None else None
        enc = tokenizer(firsts, seconds, truncation=True, max_length=max_length,
                        padding=True, return_tensors="pt")
        target = torch.tensor([index[ex.label] for ex in batch])
        loss = torch.nn.functional.cross_entropy(model(**enc).logits, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    return HFSequenceClassifier(model, tokenizer, labels=labels, max_length=max_length)
