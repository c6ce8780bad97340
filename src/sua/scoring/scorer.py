"""SUAScorer: one batched pass over clean and perturbed inputs, every per-input quantity
derived from the same cached predictions."""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.measures import (
    ambiguity_proxy,
    check_probabilities,
    entropy,
    max_probability,
    normalised_confidence,
    sensitivity,
    signature,
    sua_score,
)
from sua.models.base import PredictiveModel
from sua.perturb.base import Perturbation, Perturber
from sua.records import PerturbationResult, ScoreRecord
from sua.scoring.config import Fields, ScoringConfig
from sua.scoring.resumable import write_scores
from sua.scoring.rewrites import prepare_rewrites, rewritten_inputs
from sua.tables import as_examples


class SUAScorer:
    """Score inputs with SUA(x) = Ŝ(x) − λ·H(x), Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)).

    For each chunk of inputs it draws K perturbations per input from ``perturber``, sends
    every distinct clean and perturbed input through ``model.predict_proba`` in one call
    (identical strings are scored once), and derives H, S (mean and worst of K), SUA, the
    ambiguity proxy (entropy of the argmax over x and its K rewrites, §5.4), the Appendix C
    signature and the baseline scores from those cached predictions.

    ``config`` (:class:`~sua.scoring.config.ScoringConfig`: ``k``, ``divergence``, ``lam``,
    ``seed``, ``perturb_field`` — the side of a text pair that is rewritten — and the signature's
    ``thresholds``) says what is computed; ``settings`` replace single fields of it, so
    ``SUAScorer(model, perturber, k=4, lam=0.5)`` is ``SUAScorer(model, perturber,
    ScoringConfig(k=4, lam=0.5))``; the config in use is ``scorer.settings``. ``chunk_size``
    inputs go to the model per call. ``metadata`` (e.g. the model's source and the task) is
    recorded beside every output file with :meth:`config` and must match on a resume.

    >>> from sua.models import CallableModel
    >>> from sua.perturb import TokenPerturber
    >>> model = CallableModel(lambda xs: [[0.9, 0.1] if "good" in x else [0.2, 0.8] for x in xs],
    ...                       labels=["pos", "neg"])
    >>> rec = next(SUAScorer(model, TokenPerturber(), k=4).score(["a good film"]))
    >>> rec.prediction, round(rec.entropy, 3), len(rec.perturbations)
    ('pos', 0.325, 4)
    >>> abs(rec.sua - (rec.sensitivity - rec.entropy)) < 1e-12  # SUA = S − λ·H with λ = 1
    True
    """

    #: The record fields :meth:`score_file` reads when it is given none.
    default_fields = Fields()

    def __init__(self, model: PredictiveModel, perturber: Perturber, config: ScoringConfig | None = None, *,
                 chunk_size: int = 512, metadata: Mapping[str, Any] | None = None, **settings: Any) -> None:
        self.settings = dataclasses.replace(config or ScoringConfig(), **settings)
        if chunk_size < 1:
            raise SUAInputError(f"chunk_size must be >= 1, got {chunk_size}")
        self.model = model
        self.perturber = perturber
        self.chunk_size = chunk_size
        self.metadata = dict(metadata or {})

    def config(self) -> dict[str, Any]:
        """What determines the numbers: written beside every output file."""
        settings = self.settings
        return {
            "k": settings.k,
            "divergence": settings.divergence,
            "lam": settings.lam,
            "seed": settings.seed,
            "perturb_field": settings.perturb_field,
            "perturber": repr(self.perturber),
            **self._model_config(),
            "thresholds": settings.thresholds,
        }

    def _model_config(self) -> dict[str, Any]:
        return {"model": type(self.model).__name__, "labels": list(self.model.labels),
                "precision": getattr(self.model, "precision", "fp32")}

    # -- core --------------------------------------------------------------------------

    def score_batch(self, examples: Sequence[Example]) -> list[ScoreRecord]:
        """Score a list of examples with one model call over all distinct inputs (the perturber
        first prepares the rewrites it batches, for the inputs its cache does not hold)."""
        settings = self.settings
        prepare_rewrites(examples, self.perturber, k=settings.k, seed=settings.seed,
                         perturb_field=settings.perturb_field)
        return self.score_drawn(examples, [self.draw(ex) for ex in examples])

    def draw(self, ex: Example) -> tuple[list[Perturbation], list[ModelInput]]:
        """The K rewrites of ``ex`` and the model inputs they make (seeded per input id, so the
        same wherever and in whatever order they are drawn; adversarial ones up to the model's
        float noise between batch compositions, :mod:`sua.perturb.adversarial`)."""
        return rewritten_inputs(ex, self.perturber, k=self.settings.k, seed=self.settings.seed,
                                perturb_field=self.settings.perturb_field)

    def score_drawn(self, examples: Sequence[Example],
                    drawn: Sequence[tuple[list[Perturbation], list[ModelInput]]]) -> list[ScoreRecord]:
        """:meth:`score_batch` for rewrites already drawn with :meth:`draw` (one per example)."""
        if not examples:
            return []
        labels = list(self.model.labels)
        for ex in examples:
            if ex.label is not None and ex.label not in labels:
                raise SUAInputError(f"example {ex.id!r}: label {ex.label!r} is not one of the "
                                    f"model's labels {labels}")
        slots: dict[ModelInput, int] = {}
        clean = [slots.setdefault(ex.model_input(), len(slots)) for ex in examples]
        draws, perturbed = [], []
        for d, inputs in drawn:
            draws.append(d)
            perturbed.append([slots.setdefault(x, len(slots)) for x in inputs])
        probs = np.asarray(self.model.predict_proba(list(slots)), dtype=np.float64)
        if probs.shape != (len(slots), len(labels)):
            raise SUAInputError(f"model returned shape {probs.shape}, expected "
                                f"({len(slots)}, {len(labels)})")
        check_probabilities(probs, name="model output")

        p_clean, p_pert = probs[clean], probs[np.asarray(perturbed)]
        argmax_all = np.concatenate([p_clean.argmax(-1)[:, None], p_pert.argmax(-1)], axis=1)
        predictions = [[labels[int(j)] for j in row] for row in argmax_all]
        correct = [[None if ex.label is None else ex.label == name for name in row]
                   for ex, row in zip(examples, predictions, strict=True)]
        return self._records(examples, draws, p_clean, p_pert, predictions, correct,
                             [ex.label for ex in examples])

    def _records(self, examples: Sequence[Example], draws: Sequence[Sequence[Perturbation]],
                 p_clean: np.ndarray, p_pert: np.ndarray, predictions: Sequence[Sequence[str]],
                 correct: Sequence[Sequence[bool | None]], labels: Sequence[str | None],
                 extra: Sequence[dict[str, Any]] | None = None) -> list[ScoreRecord]:
        """Records from the cached distributions: ``p_clean`` (N, C), ``p_pert`` (N, K, C); per
        input, the predictions and their correctness on x then x'_1..x'_K (K + 1 each)."""
        sens = sensitivity(p_clean, p_pert, divergence=self.settings.divergence)
        h = entropy(p_clean)
        sua_values = sua_score(sens.expected, h, self.settings.lam)
        argmax_all = np.concatenate([p_clean.argmax(-1)[:, None], p_pert.argmax(-1)], axis=1)
        ambiguity = ambiguity_proxy(argmax_all, num_classes=p_clean.shape[-1])
        sig = signature(sens.expected, h, ambiguity, **self.settings.thresholds)
        conf, mp = normalised_confidence(p_clean), max_probability(p_clean)
        return [
            ScoreRecord(
                id=ex.id,
                label=labels[i],
                prediction=predictions[i][0],
                correct=correct[i][0],
                probs=p_clean[i].tolist(),
                entropy=float(h[i]),
                max_prob=float(mp[i]),
                confidence=float(conf[i]),
                sensitivity=float(sens.expected[i]),
                sensitivity_worst=float(sens.worst[i]),
                sua=float(sua_values[i]),
                ambiguity=float(ambiguity[i]),
                signature=str(sig[i]),
                perturbations=[
                    PerturbationResult(
                        text=d.text, kind=d.kind, family=d.family, params=d.params,
                        divergence=float(sens.per_perturbation[i, j]),
                        prediction=predictions[i][j + 1],
                        probs=p_pert[i, j].tolist(),
                        correct=correct[i][j + 1],
                    )
                    for j, d in enumerate(draws[i])
                ],
                extra={} if extra is None else extra[i],
            )
            for i, ex in enumerate(examples)
        ]

    def score(self, examples: Iterable[Example] | Any, *, progress: bool = False,
              total: int | None = None) -> Iterator[ScoreRecord]:
        """Stream records for ``examples``, ``chunk_size`` inputs per model call.

        ``examples``: ``Example`` objects or anything :func:`sua.tables.as_examples` reads with
        its default field names (strings, ``(text, pair)`` tuples, dicts, a DataFrame, a
        ``datasets.Dataset``). Memory is bounded by one chunk whatever the number of examples.
        """
        it = as_examples(examples)
        with tqdm(total=total, disable=not progress, unit="input", desc="scoring") as bar:
            while chunk := list(itertools.islice(it, self.chunk_size)):
                yield from self.score_batch(chunk)
                bar.update(len(chunk))

    # -- files -------------------------------------------------------------------------

    # noqa reason: the file options every score_file shares (limit, overwrite, progress, allow_empty) and two hooks
    def score_file(self, data: str | os.PathLike[str], out: str | os.PathLike[str],  # noqa: PLR0913
                   fields: Fields | None = None, *, limit: int | None = None, overwrite: bool = False,
                   progress: bool = True, allow_empty: bool = False, engine: ScoringEngine | None = None,
                   annotate: Callable[[ScoreRecord], ScoreRecord] | None = None) -> Path:
        """Score a JSONL file (or a hub source ``hf:NAME:SPLIT``) into ``out`` (JSONL), resumably,
        through the one writer of every scorer, :func:`~sua.scoring.resumable.write_scores`.

        ``fields`` name the record fields read (default :attr:`default_fields`); ``limit``: only
        the first inputs. Writes ``<out stem>.meta.json`` with the config (:meth:`config`, the
        data, the fields, the limit and ``metadata``), versions and seed. If ``out`` already
        holds records from the same config, only the missing inputs are scored and appended;
        finished records are never rewritten. A different config is an error unless
        ``overwrite=True``. An empty input is an error unless ``allow_empty=True``. ``engine``
        says where the records are computed (default: this process, :meth:`score`; e.g.
        :class:`sua.distributed.RayScoringEngine`); the records and the file are the same
        either way. ``annotate`` is called on each record before it is written (the experiment
        runner adds the split and multi-label correctness).
        """
        scorer, fields = self._reading(fields or self.default_fields)
        reader = fields.reader()
        config = {**scorer.config(), "data": str(data), **reader, "limit": limit, **self.metadata}

        def score(examples: Iterator[Example], remaining: int | None) -> Iterable[ScoreRecord]:
            if engine is None:
                records = scorer.score(examples, progress=progress, total=remaining)
            else:
                records = engine.score(scorer, examples, progress=progress, total=remaining)
            return records if annotate is None else map(annotate, records)

        return write_scores(data, out, config, reader, score, limit=limit, overwrite=overwrite,
                            allow_empty=allow_empty)

    def _reading(self, fields: Fields) -> tuple[SUAScorer, Fields]:
        """The scorer for examples read with ``fields`` and the fields read into them (a subclass
        that keeps its gold answers in ``Example.meta`` takes its gold field from ``fields``)."""
        return self, fields


class ScoringEngine(Protocol):
    """Where records are computed: ``score(scorer, examples, progress=..., total=...)`` yields
    what ``scorer.score_batch`` gives for ``examples``, one :class:`ScoreRecord` per id, in any
    order (without an engine, :meth:`SUAScorer.score` computes them in this process)."""

    def score(self, scorer: SUAScorer, examples: Iterable[Example], *, progress: bool = False,
              total: int | None = None) -> Iterator[ScoreRecord]: ...
