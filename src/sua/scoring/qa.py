"""SUA for extractive QA: span distributions of the clean and rewritten questions on one context.

Each example is ``Example(text=context, pair=question)`` with its gold answers in
``Example.meta["answers"]`` (SQuAD's ``{"text": [...], "answer_start": [...]}``, a list or a
string). Only the question is rewritten (K draws from the perturber); the model
(:class:`~sua.models.qa_span.HFExtractiveQA`) gives every variant's distribution over the same
outcomes — the clean question's top-N spans and "other" — and the usual record is derived from
those (K + 1, N + 1) distributions with the same measures as :class:`~sua.scoring.SUAScorer`:

    Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)),    H(x) = −Σ_o p(o|x) log p(o|x),    SUA = Ŝ − λ·H.

``prediction`` is the clean question's most probable span, ``label`` the first gold answer,
``correct`` its SQuAD exact match; each perturbation's ``correct`` is the exact match of that
rewrite's own predicted span; ``extra`` = ``{"em", "f1", "candidates"}``.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.inputs import Example
from sua.measures import check_probabilities, exact_match, f1_score
from sua.models.qa_span import HFExtractiveQA
from sua.perturb.base import Perturber
from sua.records import ScoreRecord
from sua.scoring.config import Fields, ScoringConfig
from sua.scoring.generative import gold_answers
from sua.scoring.scorer import SUAScorer


class QAScorer(SUAScorer):
    """Score extractive QA inputs with SUA over answer spans (module doc).

    Everything but the model call is :class:`~sua.scoring.SUAScorer`'s: the settings
    (``config``; ``perturb_field`` ``"auto"`` is the question, ``"pair"``; ``"text"`` is
    refused), chunked streaming (:meth:`score`), the measures, and resumable files with a ``.meta.json``
    (:meth:`score_file`, whose ``fields`` default to ``context``, ``question`` and, as the label
    field, the gold ``answers``). One ``span_distributions`` call per chunk covers all its variants.

    >>> # qa = HFExtractiveQA("runs/qa/model", options=ModelOptions(max_length=256))
    >>> # scorer = QAScorer(qa, TokenPerturber(), k=4)
    >>> # scorer.score_file("squad/dev.jsonl", "qa_scores.jsonl", limit=200)
    """

    answers_field = "answers"

    default_fields = Fields("context", "question", "answers")

    def __init__(self, model: HFExtractiveQA, perturber: Perturber, config: ScoringConfig | None = None, *,
                 chunk_size: int = 64, metadata: Mapping[str, Any] | None = None, **settings: Any) -> None:
        if not callable(getattr(model, "span_distributions", None)):
            raise SUAInputError(f"QAScorer needs a span model such as HFExtractiveQA (with "
                                f"span_distributions), got {type(model).__name__}")
        config = dataclasses.replace(config or ScoringConfig(), **settings)
        if config.perturb_field == "auto":  # the pair when there is one: a QA input always has one
            config = dataclasses.replace(config, perturb_field="pair")
        if config.perturb_field != "pair":
            raise SUAInputError("extractive QA rewrites only the question (the pair); perturb_field="
                                f"{config.perturb_field!r} would change the context the spans live in")
        super().__init__(model, perturber, config, chunk_size=chunk_size, metadata=metadata)

    def _model_config(self) -> dict[str, Any]:
        config = getattr(self.model, "config", None)
        return {"model": config() if callable(config) else type(self.model).__name__,
                "answers_field": self.answers_field}

    def score_batch(self, examples: Sequence[Example]) -> list[ScoreRecord]:
        """Score a list of examples with one ``span_distributions`` call."""
        if not examples:
            return []
        items, draws = [], []
        for ex in examples:
            if ex.pair is None:
                raise SUAInputError(f"example {ex.id!r} has no question: QA examples are "
                                    "Example(text=context, pair=question)")
            d, inputs = self.draw(ex)
            draws.append(d)
            items.append((ex.text, [ex.pair] + [question for _, question in inputs]))
        dists = self.model.span_distributions(items)
        golds = [gold_answers(ex.meta.get(self.answers_field)) for ex in examples]

        by_size: dict[int, list[int]] = defaultdict(list)  # the measures need one C per call
        for i, dist in enumerate(dists):
            check_probabilities(dist.probs, name=f"span distribution of {examples[i].id!r}")
            by_size[dist.probs.shape[1]].append(i)
        records: list[ScoreRecord | None] = [None] * len(examples)
        for rows in by_size.values():
            probs = np.stack([dists[i].probs for i in rows])
            correct = [[None if golds[i] is None else bool(exact_match(p, golds[i]))
                        for p in dists[i].predictions] for i in rows]
            extra = [self._extra(dists[i].predictions[0], golds[i], dists[i].candidates)
                     for i in rows]
            made = self._records([examples[i] for i in rows], [draws[i] for i in rows],
                                 probs[:, 0], probs[:, 1:], [dists[i].predictions for i in rows],
                                 correct, [golds[i][0] if golds[i] else None for i in rows], extra)
            for i, record in zip(rows, made, strict=True):
                records[i] = record
        return records  # type: ignore[return-value]

    @staticmethod
    def _extra(prediction: str, golds: list[str] | None, candidates: Sequence[Any]) -> dict[str, Any]:
        scores = {} if golds is None else {"em": exact_match(prediction, golds),
                                           "f1": f1_score(prediction, golds)}
        return {**scores, "candidates": [c.text for c in candidates]}

    def _reading(self, fields: Fields) -> tuple[SUAScorer, Fields]:
        """The gold answers are read from ``fields.label_field`` into ``Example.meta``."""
        scorer = copy.copy(self)
        scorer.answers_field = fields.label_field or ""
        return scorer, dataclasses.replace(fields, label_field=None)
