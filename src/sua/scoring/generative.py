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

:func:`score_lm_file` is ``sua score --backend hf-causal|openai``: a language model scores a
file, as a verbalised-label classifier (``LMClassifier`` with :class:`~sua.scoring.SUAScorer`)
or, for ``qa-generative``, through sampled answers (this module's scorer).
"""

from __future__ import annotations

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
from sua.measures import ambiguity_proxy, entropy, get_divergence, sensitivity, signature, sua_score
from sua.models.clustering import Clusterer, ExactMatchClusterer, cluster_distribution, exact_match, token_f1
from sua.models.generation import AnswerSampler, SamplingConfig
from sua.perturb.base import Perturber
from sua.records import PerturbationResult, ScoreRecord
from sua.scoring.resumable import write_scores
from sua.scoring.rewrites import prepare_rewrites, rewritten_inputs
from sua.scoring.scorer import SUAScorer
from sua.tasks import TaskKind, check_perturb_field, get_kind


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
    ``(context, question)`` pairs); ``perturber`` draws the K rewrites of the field chosen by
    ``perturb_field`` (``"auto"``: the pair, i.e. the question, when there is one); ``m`` answers
    are sampled per distinct input; ``clusterer`` defaults to normalised exact match. Gold answers
    are read from ``Example.meta[gold_field]`` (or the example's label).

    >>> # scorer = GenerativeSUAScorer(AnswerSampler(HFCausalLM()), TokenPerturber(), k=4, m=8)
    >>> # for rec in scorer.score(examples): print(rec.prediction, rec.sua, rec.entropy, rec.max_prob)
    """

    def __init__(self, sampler: AnswerSampler, perturber: Perturber, *, k: int = defaults.K, m: int = 10,
                 clusterer: Clusterer | None = None, divergence: str = defaults.DIVERGENCE,
                 lam: float = defaults.LAM, seed: int = 0,
                 perturb_field: str = "auto", gold_field: str = "answers", f1_threshold: float = 0.5,
                 chunk_size: int = 16, thresholds: Mapping[str, float] | None = None) -> None:
        for name, value in (("k", k), ("m", m), ("chunk_size", chunk_size)):
            if not isinstance(value, int) or value < 1:
                raise SUAInputError(f"{name} must be an integer >= 1, got {value!r}")
        check_perturb_field(perturb_field)
        if not 0 <= lam < math.inf:
            raise SUAInputError(f"lam must be a finite number >= 0, got {lam!r}")
        get_divergence(divergence)
        self.sampler = sampler
        self.perturber = perturber
        self.k, self.m = k, m
        self.clusterer = clusterer or ExactMatchClusterer()
        self.divergence = divergence
        self.lam = float(lam)
        self.seed = int(seed)
        self.perturb_field = perturb_field
        self.gold_field = gold_field
        self.f1_threshold = f1_threshold
        self.chunk_size = chunk_size
        self.thresholds = dict(thresholds or {})

    def config(self) -> dict[str, Any]:
        """What determines the numbers: written beside every output file."""
        return {"k": self.k, "m": self.m, "divergence": self.divergence, "lam": self.lam, "seed": self.seed,
                "perturb_field": self.perturb_field, "perturber": repr(self.perturber),
                "clusterer": repr(self.clusterer), "sampler": self.sampler.config(),
                "gold_field": self.gold_field, "f1_threshold": self.f1_threshold,
                "thresholds": self.thresholds}

    def score_example(self, ex: Example) -> ScoreRecord:
        """Sample, cluster and score one example."""
        draws, rewritten = rewritten_inputs(ex, self.perturber, k=self.k, seed=self.seed,
                                            perturb_field=self.perturb_field)
        clean = ex.model_input()
        slots = {clean: 0}
        for x in rewritten:
            slots.setdefault(x, len(slots))
        first = self.sampler.sample([clean], n=self.m, seed=self.seed, greedy=True)[0]
        answer, samples = first[0], [first[1:]]
        samples += self.sampler.sample(list(slots)[1:], n=self.m, seed=self.seed)
        texts = [[g.text for g in group] for group in samples]
        dist = cluster_distribution(texts, self.clusterer)
        # one cluster for every answer: the measures need two outcomes, so add an empty one
        probs = dist.probs if dist.probs.shape[1] > 1 else np.pad(dist.probs, ((0, 0), (0, 1)))
        p_clean = probs[:1]
        p_pert = probs[[slots[x] for x in rewritten]][None]
        sens = sensitivity(p_clean, p_pert, divergence=self.divergence)
        h = entropy(p_clean)
        ambiguity = ambiguity_proxy([[c for ids in dist.assignments for c in ids]])
        gold = gold_answers(ex.meta.get(self.gold_field, ex.label))
        f1 = None if gold is None else token_f1(answer.text, gold)
        return ScoreRecord(
            id=ex.id, prediction=answer.text, samples=texts[0], clusters=dist.labels,
            probs=dist.probs[0].tolist(),
            entropy=float(h[0]), max_prob=float(p_clean.max()), sensitivity=float(sens.expected[0]),
            sensitivity_worst=float(sens.worst[0]), sua=float(sua_score(sens.expected, h, self.lam)[0]),
            ambiguity=float(ambiguity[0]), mean_token_entropy=_finite(answer.mean_token_entropy),
            signature=str(signature(sens.expected, h, ambiguity, **self.thresholds)[0]),
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
                prepare_rewrites(chunk, self.perturber, k=self.k, seed=self.seed,
                                 perturb_field=self.perturb_field)
                for ex in chunk:
                    yield self.score_example(ex)
                    bar.update(1)

    def score_file(self, data: str | os.PathLike[str], out: str | os.PathLike[str], *,
                   text_field: str = "context", pair_field: str | None = "question", id_field: str = "id",
                   limit: int | None = None, overwrite: bool = False, progress: bool = True,
                   metadata: Mapping[str, Any] | None = None, allow_empty: bool = False) -> Path:
        """Score a JSONL file (or a hub source ``hf:NAME:SPLIT``) into ``out`` (JSONL), resumably,
        through the one writer of every scorer, :func:`~sua.scoring.resumable.write_scores`:
        finished inputs skipped on a rerun with the same config (``<out stem>.meta.json``), a
        different config refused unless ``overwrite``."""
        config = {**self.config(), "data": str(data), "text_field": text_field, "pair_field": pair_field,
                  "id_field": id_field, "limit": limit, **dict(metadata or {})}
        reader = {"text_field": text_field, "pair_field": pair_field, "label_field": None,
                  "id_field": id_field}

        def score(examples: Iterator[Example], remaining: int | None) -> Iterator[ScoreRecord]:
            return self.score(examples, progress=progress, total=remaining)

        return write_scores(data, out, config, reader, score, limit=limit, overwrite=overwrite,
                            allow_empty=allow_empty)


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined value is written as null."""
    return value if math.isfinite(value) else None


def score_lm_file(data: str | os.PathLike[str], out: str | os.PathLike[str], *, backend: str,
                  model: str | None = None, task: str | TaskKind = "classification",
                  template: str | None = None,
                  perturber: str = "token", k: int = defaults.K, m: int = 10,
                  divergence: str = defaults.DIVERGENCE,
                  lam: float = defaults.LAM, seed: int = 0, normalize: str = "none",
                  sampling: SamplingConfig | None = None, base_url: str | None = None,
                  api_key: str | None = None, http_cache: str | os.PathLike[str] | None = None,
                  max_concurrency: int = 4, scoring: str = "echo", dtype: str | None = None,
                  precision: str = "fp32",
                  device: str | None = None, batch_size: int | None = None, max_length: int | None = None,
                  chunk_size: int | None = None, text_field: str | None = None, pair_field: str | None = None,
                  label_field: str | None = None, id_field: str = "id", limit: int | None = None,
                  overwrite: bool = False, progress: bool = True, allow_empty: bool = False) -> Path:
    """Score a JSONL file with a language model (``sua score --backend hf-causal|openai``).

    ``backend`` and ``model`` pick the LM (:func:`~sua.models.lm_backends.load_lm`: ``hf-causal``
    with a hub name or folder, ``None`` for the offline SmolLM2; ``openai`` with the server's
    model name, ``base_url``, ``api_key`` (default ``$OPENAI_API_KEY``), the request cache
    ``http_cache``, ``max_concurrency`` and ``scoring``; ``hf-causal`` also takes ``device``,
    ``dtype`` and ``precision``). ``task`` is a :class:`~sua.tasks.TaskKind` or a built-in kind's
    name that a language model scores (its ``backends``); ``template`` (default: the kind's) is a
    shipped prompt template name or a JSON file.

    Label tasks (head ``classification``: ``nli``, ``classification``): ``LMClassifier``
    (``normalize``: ``none``, ``tokens`` or ``chars``) scored by :class:`~sua.scoring.SUAScorer`
    with K rewrites from the ``perturber`` family. Head ``generative`` (``qa-generative``): ``AnswerSampler``
    (``sampling``) scored by :class:`GenerativeSUAScorer` with M samples per input;
    ``label_field`` holds the gold answers. Fields default to the kind's (``pair_field=""`` for
    none); the side rewritten is the kind's ``rewrite``. Output,
    resume and ``<out stem>.meta.json`` work as for ``sua score`` with an encoder: a rerun scores
    only what is missing, a different config is refused unless ``overwrite``.

    >>> # score_lm_file("snli.jsonl", "runs/lm.jsonl", backend="hf-causal", task="nli", k=4)
    """
    from sua.models.causal_lm import LMClassifier
    from sua.models.lm_backends import load_lm
    from sua.models.openai_client import OpenAIServer
    from sua.models.options import ModelOptions
    from sua.models.prompts import load_template
    from sua.perturb import get_perturber

    kind = get_kind(task)
    if backend not in kind.backends:
        raise SUAInputError(f"task {kind.name!r} is scored with --backend {' or '.join(kind.backends)}, "
                            f"not {backend!r}")
    name = template if template is not None else kind.template
    if name is None:
        from sua.models.prompts import available_templates

        raise SUAInputError(f"task {kind.name!r} needs a prompt template: pass template= (--template), one "
                            f"of {available_templates()} or a JSON file")
    prompt = load_template(name)
    fields = {"text_field": text_field or kind.text_field,
              "pair_field": (pair_field if pair_field is not None else kind.pair_field) or None,
              "id_field": id_field}
    label = (label_field if label_field is not None else kind.gold_field) or None
    server = OpenAIServer(base_url, api_key=api_key, cache_dir=http_cache, max_concurrency=max_concurrency) \
        if backend == "openai" and base_url else None
    options = ModelOptions(device=device, precision=precision, batch_size=batch_size, max_length=max_length)
    lm = load_lm(backend, model, options=options, dtype=dtype, server=server, scoring=scoring)
    meta = {"backend": backend, "model_source": model, "task": kind.name, "lm": repr(lm),
            "template": prompt.name, "template_version": prompt.version, "dtype": dtype,
            "precision": precision}
    chunk = {"chunk_size": chunk_size} if chunk_size is not None else {}
    if kind.head == "generative":
        sampler = AnswerSampler(lm, prompt, sampling or SamplingConfig())
        scorer = GenerativeSUAScorer(sampler, get_perturber(perturber), k=k, m=m, divergence=divergence,
                                     lam=lam, seed=seed, perturb_field=kind.rewrite, gold_field=label or "",
                                     **chunk)
        return scorer.score_file(data, out, **fields, limit=limit, overwrite=overwrite, progress=progress,
                                 metadata=meta, allow_empty=allow_empty)
    classifier = LMClassifier(lm, prompt, normalize=normalize)
    scorer = SUAScorer(classifier, get_perturber(perturber), k=k, divergence=divergence, lam=lam, seed=seed,
                       perturb_field=kind.rewrite, **chunk)
    return scorer.score_file(data, out, **fields, label_field=label, limit=limit, overwrite=overwrite,
                             progress=progress, metadata={**meta, "normalize": normalize},
                             allow_empty=allow_empty)
