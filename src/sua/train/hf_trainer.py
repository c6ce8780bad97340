"""SUA-TR inside a user's own Hugging Face ``Trainer`` script.

Three pieces, each usable alone:

- :class:`SUATRCollator` turns raw rows (text, optional pair, label) into the clean batch plus
  K rewrites per row, tokenised (``perturbed_*`` keys, B·K rows);
- :class:`SUATRTrainer` is a ``transformers.Trainer`` whose ``compute_loss`` is
  :class:`~sua.train.loss.SUATRLoss` on those batches,
  ``L = L_task + α·L_cons + β·L_align`` (eq. 15), so mixed precision, multi-GPU, checkpoints and
  ``report_to`` (TensorBoard, W&B, MLflow) come from the ecosystem;
- :class:`SUAMetricsCallback` logs S, H and the SUA risk ``mean (S − λH)₊`` of an evaluation set
  at every evaluation through ``trainer.log``, hence through every ``report_to`` integration.

The rewrites of a row are drawn with the perturber's RNG for ``(seed, row id)``, so a row gets
the same K rewrites every epoch (the row's ``id`` field, else its text, is the id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from sua import defaults
from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.io import example_from_record
from sua.measures import sua_risk, sua_score
from sua.models.hf_classifier import HFSequenceClassifier
from sua.perturb import Perturber, get_perturber
from sua.scoring.scorer import SUAScorer
from sua.train.loss import SUATRLoss
from sua.train.rewrites import perturbed_inputs

#: Prefix of the batch keys holding the rewrites' tokens (B·K rows).
PERTURBED = "perturbed_"

#: The record fields a :class:`SUATRCollator` reads its inputs from, and their defaults.
ROW_FIELDS: dict[str, str | None] = {"text_field": "text", "pair_field": None, "id_field": "id"}


def _perturber(perturber: Perturber | str) -> Perturber:
    return get_perturber(perturber) if isinstance(perturber, str) else perturber


class SUATRCollator:
    """Collate raw rows into a SUA-TR batch: ``input_ids``, ``attention_mask`` (and
    ``token_type_ids``) of the B clean inputs, ``labels`` (B,), and the same keys prefixed
    ``perturbed_`` for the K rewrites of each row, row-major (B·K rows: row b's rewrites are
    rows b·K .. b·K + K − 1). Rewrites come from ``perturber`` (a registered family name or a
    :class:`~sua.perturb.base.Perturber`) on the pair when there is one, else on the text.

    Rows are dicts with the text, an optional pair and ``label_field`` (a class id, or a label
    name looked up in ``label2id``, e.g. ``model.config.label2id``); ``fields`` name the others
    as :func:`sua.io.example_from_record` reads them: ``text_field`` (default ``text``),
    ``pair_field`` (default none) and ``id_field`` (default ``id``) — the same keywords
    :class:`SUAMetricsCallback` takes. Needs ``TrainingArguments(remove_unused_columns=False)``
    so the text columns reach it.
    """

    def __init__(self, tokenizer: Any, *, perturber: Perturber | str = "token", k: int = 4,
                 label_field: str = "label", label2id: Mapping[str, int] | None = None,
                 max_length: int = 128, seed: int = 0, **fields: str | None) -> None:
        if not isinstance(k, int) or k < 1:
            raise SUAInputError(f"k (rewrites per row) must be an integer >= 1, got {k!r}")
        unknown = sorted(set(fields) - set(ROW_FIELDS))
        if unknown:
            raise SUAInputError(f"unknown row field option(s) {unknown}; known: {', '.join(ROW_FIELDS)}")
        self.tokenizer = tokenizer
        self.perturber = _perturber(perturber)
        self.k = k
        self.fields = {**ROW_FIELDS, **fields, "label_field": None}
        self.label_field = label_field
        self.label2id = dict(label2id or {})
        self.max_length = max_length
        self.seed = seed

    def _label(self, row: Mapping[str, Any], where: str) -> int:
        if self.label_field not in row:
            raise SUAInputError(f"{where}: no {self.label_field!r} field (the gold label)")
        value = row[self.label_field]
        if isinstance(value, (int, np.integer)):
            return int(value)
        if str(value) not in self.label2id:
            raise SUAInputError(f"{where}: label {value!r} is not in label2id {self.label2id}; pass "
                                "label2id=model.config.label2id or integer labels")
        return self.label2id[str(value)]

    def tokenize(self, inputs: Sequence[ModelInput]) -> dict[str, torch.Tensor]:
        """Padded tensors for single texts or (first, second) pairs."""
        options = {"padding": True, "truncation": True, "max_length": self.max_length, "return_tensors": "pt"}
        if isinstance(inputs[0], tuple):
            return dict(self.tokenizer([x[0] for x in inputs], [x[1] for x in inputs], **options))
        return dict(self.tokenizer(list(inputs), **options))

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        examples: list[Example] = []
        labels = []
        for i, row in enumerate(rows):
            where = f"training row {i} of the batch"
            row = dict(row)
            ex = example_from_record(row, where, default_id=str(row.get(self.fields["text_field"])),
                                     **self.fields)
            examples.append(ex)
            labels.append(self._label(row, where))
        rewrites = [x for ex in examples
                    for x in perturbed_inputs(ex, self.perturber, self.k, seed=self.seed)]
        batch = self.tokenize([ex.model_input() for ex in examples])
        batch.update({PERTURBED + key: value for key, value in self.tokenize(rewrites).items()})
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return batch


class SUATRTrainer(Trainer):
    """A ``transformers.Trainer`` trained with SUA-TR: ``compute_loss`` returns
    ``SUATRLoss(clean_logits, labels, perturbed_logits).total`` on a :class:`SUATRCollator` batch
    (``sua_loss`` defaults to ``SUATRLoss()``: α = β = λ = 1, JSD). With the paper's stop-gradient
    (``stop_grad="perturbed"``) the rewrites' forward pass runs without a graph. Every other
    ``Trainer`` argument is passed through.

    >>> # trainer = SUATRTrainer(model=model, args=TrainingArguments(..., remove_unused_columns=False),
    >>> #                        data_collator=SUATRCollator(tokenizer, k=4), train_dataset=rows)
    """

    def __init__(self, *args: Any, sua_loss: SUATRLoss | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.data_collator, SUATRCollator) and self.args.remove_unused_columns:
            raise SUAInputError("SUATRCollator needs the text columns: pass "
                                "TrainingArguments(..., remove_unused_columns=False)")
        self.sua_loss = sua_loss if sua_loss is not None else SUATRLoss()

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        """SUA-TR loss of one batch (and the clean outputs when ``return_outputs``)."""
        clean = {k: v for k, v in inputs.items() if not k.startswith(PERTURBED) and k != "labels"}
        perturbed = {k[len(PERTURBED):]: v for k, v in inputs.items() if k.startswith(PERTURBED)}
        if "labels" not in inputs:
            raise SUAInputError("a SUA-TR batch needs 'labels' (use SUATRCollator)")
        labels = inputs["labels"]
        outputs = model(**clean)
        perturbed_logits = None
        if self.sua_loss.needs_perturbed:
            if not perturbed:
                raise SUAInputError("the SUA-TR loss needs the rewrites' tokens (perturbed_* keys): "
                                    "use SUATRCollator")
            with torch.set_grad_enabled(torch.is_grad_enabled() and self.sua_loss.perturbed_needs_graph):
                flat = model(**perturbed).logits
            perturbed_logits = flat.reshape(labels.shape[0], -1, flat.shape[-1])
        loss = self.sua_loss(outputs.logits, labels, perturbed_logits).total
        return (loss, outputs) if return_outputs else loss


class SUAMetricsCallback(TrainerCallback):
    """At every evaluation, score ``examples`` with the model being trained and log through
    ``trainer.log`` (so through every ``report_to`` integration):
    ``{prefix}_S`` = mean Ŝ(x), ``{prefix}_H`` = mean H(x), ``{prefix}_risk`` =
    mean (Ŝ(x) − λ·H(x))₊ and, when the examples have labels, ``{prefix}_accuracy``.

    ``examples``: anything :func:`sua.tables.as_examples` reads (with the ``fields`` keywords,
    e.g. ``text_field="premise", pair_field="hypothesis"``); labels are names of
    ``model.config.id2label``. ``trainer`` is the ``Trainer`` the callback is added to.
    """

    def __init__(self, trainer: Trainer, examples: Any, *, perturber: Perturber | str = "token", k: int = 4,
                 lam: float = defaults.LAM, divergence: str = defaults.DIVERGENCE, seed: int = 0,
                 prefix: str = "eval_sua",
                 **fields: Any) -> None:
        from sua.tables import as_examples

        self.trainer = trainer
        self.examples = list(as_examples(examples, **fields))
        self.perturber = _perturber(perturber)
        self.options = {"k": k, "lam": lam, "divergence": divergence, "seed": seed}
        self.prefix = prefix

    def metrics(self) -> dict[str, float]:
        """The logged numbers for the model as it is now."""
        model = HFSequenceClassifier(self.trainer.model, self.trainer.processing_class)
        records = list(SUAScorer(model, self.perturber, **self.options).score(self.examples))
        s = np.array([r.sensitivity for r in records])
        h = np.array([r.entropy for r in records])
        out = {f"{self.prefix}_S": float(s.mean()), f"{self.prefix}_H": float(h.mean()),
               f"{self.prefix}_risk": float(sua_risk(sua_score(s, h, self.options["lam"])))}
        if all(r.correct is not None for r in records):
            out[f"{self.prefix}_accuracy"] = float(np.mean([r.correct for r in records]))
        return out

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.log(self.metrics())
