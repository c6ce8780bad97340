"""What the trainer needs to know about a model's output: one small class per kind of head.

A head turns examples into features and targets, pads features into a model batch, reads the
logits the loss wants from the model's output, and builds the scorer for held-out S/H. The
trainer (:class:`~sua.train.SUATrainer`) does everything else — the loss, accumulation,
checkpoints and exact resume, logging, the per-epoch rewrites — the same way for every head.

- ``classification``: logits (N, C), targets (N,) class ids.
- ``qa`` (extractive QA): the start and end logits over the aligned context window, (N, 2, L)
  with positions past a row's window masked, targets (N, 2) start/end token positions in the
  window (:class:`~sua.models.qa_span.HFExtractiveQA` encodes, so training and inference read
  the same context tokens). Only the question is rewritten.

A new kind of head is one class here plus one line in :data:`HEADS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.models import HFSequenceClassifier, ModelOptions
from sua.models.qa_span import ContextWindow, HFExtractiveQA, QAFeature
from sua.perturb import Perturber
from sua.scoring import QAScorer, SUAScorer
from sua.scoring.generative import gold_answers
from sua.train.config import TrainConfig
from sua.train.lengths import QA_MAX_LENGTH, derive_max_length


class TrainHead(Protocol):
    """The trainer's view of a model: ``predictor`` is the inference adapter that ``fit`` returns
    (``.model``, ``.tokenizer``, ``.device``)."""

    predictor: Any

    def encode(self, examples: Sequence[Example]) -> tuple[list[int], list[Any], torch.Tensor]:
        """``(kept, features, targets)``: the indices of the usable examples, their features and
        their targets on the device."""

    def tokenize(self, inputs: Sequence[ModelInput]) -> list[Any]:
        """Features of model inputs (the rewrites)."""

    def length(self, feature: Any) -> int:
        """Tokens in one feature (what padding its batch costs)."""

    def pad(self, features: Sequence[Any]) -> dict[str, torch.Tensor]:
        """One padded model batch on the device."""

    def logits(self, output: Any, features: Sequence[Any]) -> torch.Tensor:
        """The loss's logits from the model's output: (N, C), or (N, H, C) for H heads."""

    def scorer(self, perturber: Perturber, config: TrainConfig) -> SUAScorer:
        """The scorer of held-out examples (``eval_k`` rewrites, the run's λ, D and seed)."""


class ClassificationHead:
    """A sequence classifier: logits (N, C) and class-id targets. With ``config.max_length=None``
    :meth:`encode` derives the truncation length from the training inputs
    (:func:`~sua.train.lengths.derive_max_length`) and sets it on the tokenizer
    (``model_max_length``), so the saved model reads inputs as it was trained."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, labels: Sequence[str] | None,
                 config: TrainConfig, device: str | torch.device | None = None) -> None:
        if labels is None:
            raise SUAInputError("a classification head needs its label names: SUATrainer(model, "
                                "tokenizer, labels=[...])")
        self.derive_length = config.max_length is None
        self.predictor = HFSequenceClassifier(model, tokenizer, labels=labels, options=ModelOptions(
            device=device, max_length=config.max_length or 2**31 - 1, batch_size=max(config.batch_size, 32),
            precision=config.precision))

    def encode(self, examples: Sequence[Example]) -> tuple[list[int], list[Any], torch.Tensor]:
        index = {name: i for i, name in enumerate(self.predictor.labels)}
        unlabelled = [ex.id for ex in examples if ex.label not in index]
        if unlabelled:
            raise SUAInputError(f"{len(unlabelled)} training examples have no label in "
                                f"{self.predictor.labels} (first: {unlabelled[0]!r})")
        targets = torch.tensor([index[ex.label] for ex in examples], device=self.predictor.device)
        inputs = [ex.model_input() for ex in examples]
        if self.derive_length:
            lengths = [self.length(f) for f in self.tokenize(inputs)]
            self.predictor.max_length = derive_max_length(lengths, cap=self.predictor.max_length)
            self.predictor.tokenizer.model_max_length = self.predictor.max_length
        return list(range(len(examples))), self.tokenize(inputs), targets

    def tokenize(self, inputs: Sequence[ModelInput]) -> list[Any]:
        return self.predictor.tokenize(inputs)

    def length(self, feature: Any) -> int:
        return len(feature["input_ids"])

    def pad(self, features: Sequence[Any]) -> dict[str, torch.Tensor]:
        batch = self.predictor.tokenizer.pad(list(features), return_tensors="pt")
        return {k: v.to(self.predictor.device) for k, v in batch.items()}

    def logits(self, output: Any, features: Sequence[Any]) -> torch.Tensor:
        return output.logits

    def scorer(self, perturber: Perturber, config: TrainConfig) -> SUAScorer:
        return SUAScorer(self.predictor, perturber, k=config.eval_k, lam=config.lam,
                         divergence=config.divergence, seed=config.seed,
                         perturb_field=config.perturb_field)


class QAHead:
    """An extractive QA model: start/end logits over the context window and their gold positions.

    Gold answers are read from ``Example.meta[answers_field]`` (SQuAD's ``{"text": [...],
    "answer_start": [...]}``; the first answer is the target); an example whose answer does not
    lie inside the context window is skipped (the trainer logs how many).
    """

    answers_field = "answers"

    def __init__(self, model: torch.nn.Module, tokenizer: Any, labels: Sequence[str] | None,
                 config: TrainConfig, device: str | torch.device | None = None) -> None:
        if config.perturb_field == "text":
            raise SUAInputError("extractive QA rewrites only the question (the pair); "
                                "perturb_field='text' would change the context the spans live in")
        self.predictor = HFExtractiveQA(model, tokenizer, options=ModelOptions(
            device=device, max_length=config.max_length or QA_MAX_LENGTH,
            batch_size=max(config.batch_size, 32), precision=config.precision))

    def encode(self, examples: Sequence[Example]) -> tuple[list[int], list[Any], torch.Tensor]:
        features = self.tokenize([ex.model_input() for ex in examples])
        kept, targets = [], []
        for i, (ex, feature) in enumerate(zip(examples, features, strict=True)):
            target = answer_tokens(feature.window, ex.meta.get(self.answers_field), ex.id)
            if target is not None:
                kept.append(i)
                targets.append(target)
        if not kept:
            raise SUAInputError(f"none of the {len(examples)} training examples has its answer "
                                f"inside the context window of {self.predictor.context_tokens} tokens; "
                                "raise max_length")
        return (kept, [features[i] for i in kept],
                torch.tensor(targets, device=self.predictor.device).view(-1, 2))

    def tokenize(self, inputs: Sequence[ModelInput]) -> list[QAFeature]:
        if any(not isinstance(x, tuple) for x in inputs):
            raise SUAInputError("extractive QA examples need a context (text) and a question (pair)")
        return self.predictor.encode(inputs)  # type: ignore[arg-type]

    def length(self, feature: Any) -> int:
        return len(feature.inputs["input_ids"])

    def pad(self, features: Sequence[Any]) -> dict[str, torch.Tensor]:
        return self.predictor.pad(features)

    def logits(self, output: Any, features: Sequence[Any]) -> torch.Tensor:
        return self.predictor.gather_context(output.start_logits, output.end_logits, features)

    def scorer(self, perturber: Perturber, config: TrainConfig) -> SUAScorer:
        return QAScorer(self.predictor, perturber, k=config.eval_k, lam=config.lam,
                        divergence=config.divergence, seed=config.seed)


def answer_tokens(window: ContextWindow, answers: Any, example_id: str = "?") -> tuple[int, int] | None:
    """``(start, end)`` token positions in ``window`` of the first gold answer (the tokens its
    characters overlap), or ``None`` when it ends past the window."""
    texts = gold_answers(answers)
    starts = answers.get("answer_start") if isinstance(answers, dict) else None
    if not texts or not starts:
        raise SUAInputError(f"example {example_id!r}: training needs a gold answer with its "
                            f"character offset ({{'text': [...], 'answer_start': [...]}}), got "
                            f"{answers!r:.80}")
    first, last = int(starts[0]), int(starts[0]) + len(texts[0])
    tokens = [t for t, (a, b) in enumerate(window.offsets) if a < last and b > first]
    if not tokens or window.offsets[-1][1] < last:
        return None
    return tokens[0], tokens[-1]


#: Head kinds by name (a task kind's ``head``; :func:`head_kind` reads it from a model).
HEADS: dict[str, type] = {"classification": ClassificationHead, "qa": QAHead}


def head_kind(model: torch.nn.Module) -> str:
    """The head a model has: ``qa`` for a ``*ForQuestionAnswering`` model (what
    :func:`~sua.train.api.load_backbone` builds for ``head="qa"``), else ``classification``."""
    return "qa" if type(model).__name__.endswith("ForQuestionAnswering") else "classification"


def make_head(model: torch.nn.Module, tokenizer: Any, labels: Sequence[str] | None,
              config: TrainConfig, device: str | torch.device | None = None) -> TrainHead:
    """The trainer's head for ``model`` (:func:`head_kind`)."""
    return HEADS[head_kind(model)](model, tokenizer, labels, config, device)
