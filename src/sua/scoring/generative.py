"""Sequence-level SUA for generated answers: divergences between meaning-cluster distributions.

For an input x with K rewrites x'_k ~ Q_x, M answers are sampled for x and for each distinct
rewrite, all answers are grouped into meaning clusters together (the union of the clusters of x
and its rewrites is the label space), and each input gets the distribution of its own answers
over those clusters, ``p(c|x) = #{answers of x in c} / M``. Then, with sua.measures,

    Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)),    H(x) = −Σ_c p(c|x) log p(c|x),    SUA = Ŝ − λ·H.

From the same samples, the baselines: H(x) itself is the (discrete) semantic entropy,
``max_prob = max_c p(c|x)`` is self-consistency (the modal cluster's frequency), the ambiguity
proxy (§5.4) is the entropy of all M·(1 + distinct rewrites) answers pooled, and the mean token
entropy is that of the greedy answer (the answer whose correctness is judged). A rewrite equal to
x, or to another rewrite, reuses its samples (an identity draw adds 0 to S). Model calls per
input: ``n_generations = 1 + M · (distinct inputs)``.

Each input gives the :class:`~sua.records.ScoreRecord` every scorer writes: ``prediction`` is the
greedy answer, the rewrites carry their ``samples`` and no graded answer, so every reader (summary,
metrics, abstention, explorer) works on them as on a classifier's.

:func:`sua.scoring.run.score_request` builds this scorer for ``sua score --task qa-generative``.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from sua import defaults
from sua.errors import SUAInputError
from sua.inputs import Example
from sua.measures import ambiguity_proxy, entropy, sensitivity, signature, sua_score
from sua.models.clustering import Clusterer, ExactMatchClusterer, cluster_distribution, exact_match, token_f1
from sua.models.generation import AnswerSampler
from sua.perturb.base import Perturber
from sua.records import PerturbationResult, ScoreRecord
from sua.scoring.config import Fields, ScoringConfig
from sua.scoring.resumable import write_scores
from sua.scoring.rewrites import prepare_rewrites, rewritten_inputs


def gold_answers(value: Any) -> list[str] | None:
    """Gold answers from a record field: a string, a list of strings, or SQuAD's ``{"text": [...]}``."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("text")
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise SUAInputError(f"gold answers must be a string, a list of strings or {{'text': [...]}}, "
                        f"got {value!r:.80}")


class GenerativeSUAScorer:
    """Score generated answers with SUA over meaning clusters (module doc).

    ``sampler`` renders and samples (its template decides the prompt, e.g. ``qa-generative`` on
    ``(context, question)`` pairs); ``perturber`` draws the K rewrites of the field chosen by the
    ``config``'s ``perturb_field`` (``"auto"``: the pair, i.e. the question, when there is one);
    ``config`` (:class:`~sua.scoring.config.ScoringConfig`: ``k``, ``divergence``, ``lam``,
    ``seed``, ``perturb_field``, ``thresholds``) with single fields replaced by ``settings``, as
    for :class:`~sua.scoring.SUAScorer`; ``m`` answers are sampled per distinct input;
    ``clusterer`` defaults to normalised exact match; an answer is ``correct`` when its token F1
    with the gold reaches ``f1_threshold``; ``chunk_size`` sources are prepared for rewriting at
    once; ``metadata`` is recorded beside every output file. Gold answers are read from
    ``Example.meta[gold_field]`` (or the example's label).

    >>> # scorer = GenerativeSUAScorer(AnswerSampler(HFCausalLM()), TokenPerturber(), k=4, m=8)
    >>> # for rec in scorer.score(examples): print(rec.prediction, rec.sua, rec.entropy, rec.max_prob)
    """

    #: The record fields :meth:`score_file` reads when it is given none (the label field: the
    #: gold answers).
    default_fields = Fields("context", "question", "answers")
    #: Where :meth:`score_example` finds the gold answers in ``Example.meta`` (:meth:`score_file`
    #: reads them from its fields' label field).
    gold_field = "answers"

    def __init__(self, sampler: AnswerSampler, perturber: Perturber, config: ScoringConfig | None = None, *,
                 m: int = defaults.M, clusterer: Clusterer | None = None, f1_threshold: float = 0.5,
                 chunk_size: int = 16, metadata: Mapping[str, Any] | None = None, **settings: Any) -> None:
        self.settings = dataclasses.replace(config or ScoringConfig(), **settings)
        for name, value in (("m", m), ("chunk_size", chunk_size)):
            if not isinstance(value, int) or value < 1:
                raise SUAInputError(f"{name} must be an integer >= 1, got {value!r}")
        self.sampler = sampler
        self.perturber = perturber
        self.m = m
        self.clusterer = clusterer or ExactMatchClusterer()
        self.f1_threshold = f1_threshold
        self.chunk_size = chunk_size
        self.metadata = dict(metadata or {})

    def config(self) -> dict[str, Any]:
        """What determines the numbers: written beside every output file."""
        settings = self.settings
        return {"k": settings.k, "m": self.m, "divergence": settings.divergence, "lam": settings.lam,
                "seed": settings.seed, "perturb_field": settings.perturb_field,
                "perturber": repr(self.perturber),
                "clusterer": repr(self.clusterer), "sampler": self.sampler.config(),
                "gold_field": self.gold_field, "f1_threshold": self.f1_threshold,
                "thresholds": settings.thresholds}

    def score_example(self, ex: Example) -> ScoreRecord:
        """Sample, cluster and score one example."""
        settings = self.settings
        draws, rewritten = rewritten_inputs(ex, self.perturber, k=settings.k, seed=settings.seed,
                                            perturb_field=settings.perturb_field)
        clean = ex.model_input()
        slots = {clean: 0}
        for x in rewritten:
            slots.setdefault(x, len(slots))
        first = self.sampler.sample([clean], n=self.m, seed=settings.seed, greedy=True)[0]
        answer, samples = first[0], [first[1:]]
        samples += self.sampler.sample(list(slots)[1:], n=self.m, seed=settings.seed)
        texts = [[g.text for g in group] for group in samples]
        dist = cluster_distribution(texts, self.clusterer)
        # one cluster for every answer: the measures need two outcomes, so add an empty one
        probs = dist.probs if dist.probs.shape[1] > 1 else np.pad(dist.probs, ((0, 0), (0, 1)))
        p_clean = probs[:1]
        p_pert = probs[[slots[x] for x in rewritten]][None]
        sens = sensitivity(p_clean, p_pert, divergence=settings.divergence)
        h = entropy(p_clean)
        ambiguity = ambiguity_proxy([[c for ids in dist.assignments for c in ids]])
        gold = gold_answers(ex.meta.get(self.gold_field, ex.label))
        f1 = None if gold is None else token_f1(answer.text, gold)
        return ScoreRecord(
            id=ex.id, prediction=answer.text, samples=texts[0], clusters=dist.labels,
            probs=dist.probs[0].tolist(),
            entropy=float(h[0]), max_prob=float(p_clean.max()), sensitivity=float(sens.expected[0]),
            sensitivity_worst=float(sens.worst[0]), sua=float(sua_score(sens.expected, h, settings.lam)[0]),
            ambiguity=float(ambiguity[0]), mean_token_entropy=_finite(answer.mean_token_entropy),
            signature=str(signature(sens.expected, h, ambiguity, **settings.thresholds)[0]),
            n_generations=1 + self.m * len(slots), gold=gold, f1=f1,
            exact_match=None if gold is None else exact_match(answer.text, gold),
            correct=None if f1 is None else f1 >= self.f1_threshold,
            perturbations=[PerturbationResult(text=d.text, kind=d.kind, family=d.family, params=d.params,
                                              divergence=float(sens.per_perturbation[0, j]),
                                              probs=dist.probs[slots[x]].tolist(), samples=texts[slots[x]])
                           for j, (d, x) in enumerate(zip(draws, rewritten, strict=True))],
            answer_token_logprobs=list(answer.token_logprobs),
            answer_token_entropies=list(answer.token_entropies),
            sample_token_logprobs=[list(g.token_logprobs) for g in samples[0]])

    def score(self, examples: Iterable[Example], *, progress: bool = False,
              total: int | None = None) -> Iterator[ScoreRecord]:
        """Stream records; the perturber may ``prepare`` each chunk of ``chunk_size`` sources at once."""
        it = iter(examples)
        with tqdm(total=total, disable=not progress, unit="input", desc="scoring") as bar:
            while chunk := list(itertools.islice(it, self.chunk_size)):
                prepare_rewrites(chunk, self.perturber, k=self.settings.k, seed=self.settings.seed,
                                 perturb_field=self.settings.perturb_field)
                for ex in chunk:
                    yield self.score_example(ex)
                    bar.update(1)

    def score_file(self, data: str | os.PathLike[str], out: str | os.PathLike[str],
                   fields: Fields | None = None, *, limit: int | None = None, overwrite: bool = False,
                   progress: bool = True, allow_empty: bool = False) -> Path:
        """Score a JSONL file (or a hub source ``hf:NAME:SPLIT``) into ``out`` (JSONL), resumably,
        through the one writer of every scorer, :func:`~sua.scoring.resumable.write_scores`:
        finished inputs skipped on a rerun with the same config (``<out stem>.meta.json``), a
        different config refused unless ``overwrite``. ``fields`` (default
        :attr:`default_fields`): the context, the question and, as the label field, the gold
        answers (``None``: unjudged)."""
        fields = fields or self.default_fields
        scorer = copy.copy(self)
        scorer.gold_field = fields.label_field or ""
        config = {**scorer.config(), "data": str(data), "text_field": fields.text_field,
                  "pair_field": fields.pair_field, "id_field": fields.id_field, "limit": limit,
                  **self.metadata}
        reader = dataclasses.replace(fields, label_field=None).reader()

        def score(examples: Iterator[Example], remaining: int | None) -> Iterator[ScoreRecord]:
            return scorer.score(examples, progress=progress, total=remaining)

        return write_scores(data, out, config, reader, score, limit=limit, overwrite=overwrite,
                            allow_empty=allow_empty)


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined value is written as null."""
    return value if math.isfinite(value) else None
