"""``sua score`` as one call: a :class:`ScoreRequest` says what is scored, by which model and how;
:func:`score_request` chooses the pipeline and writes the records.

The pipeline is chosen here and nowhere else:

- ``predictions`` given: the distributions are already there
  (:func:`~sua.scoring.precomputed.score_predictions_file`, no model call);
- ``backend="hf"``: the task kind's encoder adapter (:func:`sua.models.load_model`) and scorer
  (:data:`sua.scoring.SCORERS`: a classifier or extractive QA), the rewrites from
  :func:`sua.perturb.qx.qx_for_file`, the records computed in this process or on an ``engine``;
- a language model (``hf-causal``, ``openai``; :func:`sua.models.lm_backends.load_lm`): a label
  task through ``LMClassifier`` and :class:`~sua.scoring.SUAScorer`, a ``generative`` task through
  ``AnswerSampler`` and :class:`~sua.scoring.generative.GenerativeSUAScorer`.

The record fields default to the task kind's (:meth:`~sua.scoring.config.Fields.of_task`) and the
rewritten side is the kind's ``rewrite``. Every path writes through the scorers' one resumable
writer: a rerun scores only what is missing, a different config is refused unless ``overwrite``.

>>> # score_request(ScoreRequest("runs/lm.jsonl", data="snli.jsonl", task="nli",
>>> #                            model=ModelSpec(backend="hf-causal"), config=ScoringConfig(k=4)))
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sua import defaults
from sua.errors import SUAInputError
from sua.models.generation import SamplingConfig
from sua.models.options import ModelOptions
from sua.scoring.config import Fields, ScoringConfig
from sua.scoring.generative import GenerativeSUAScorer
from sua.scoring.scorer import ScoringEngine, SUAScorer
from sua.tasks import LANGUAGE_MODELS, TaskKind, get_kind

#: ``engine(make_model, batch_size=n)``: where the records of an encoder classifier are computed,
#: with workers that each call ``make_model()`` and score ``n`` inputs per model call (e.g.
#: ``functools.partial(sua.distributed.RayScoringEngine, num_workers=4)``).
EngineFactory = Callable[..., ScoringEngine]


@dataclass(frozen=True)
class ModelSpec:
    """The model that scores and how it runs.

    - ``source``: ``hf``: a classifier or extractive-QA folder or hub name (required);
      ``hf-causal``: a causal LM's hub name or folder (``None``: the offline SmolLM2);
      ``openai``: the server's model name;
    - ``backend``: ``hf`` (an encoder), ``hf-causal`` or ``openai`` (a language model);
    - ``options``: device, precision, batch size, max length and revision, as every model
      adapter takes them (:class:`~sua.models.options.ModelOptions`); a size left ``None`` is 64
      inputs and 256 tokens for ``hf``, the adapter's default (4 prompt groups, 2048 tokens) for
      ``hf-causal``; ``revision`` applies to ``hf`` classifiers;
    - ``allow_untrained_head``: ``hf`` classifiers.
    """

    source: str | None = None
    backend: str = "hf"
    options: ModelOptions = field(default_factory=ModelOptions)
    allow_untrained_head: bool = False


@dataclass(frozen=True)
class LMOptions:
    """How a language model (``hf-causal``, ``openai``) is asked.

    - ``template``: a shipped prompt template's name or a JSON file (``None``: the task's);
    - ``normalize``: label log-likelihoods length-normalised ``none``, per ``tokens`` or ``chars``;
    - ``dtype``: ``hf-causal`` casts the model (e.g. ``bfloat16``);
    - ``base_url``, ``api_key`` (default ``$OPENAI_API_KEY``), ``http_cache`` (a request cache
      folder), ``max_concurrency`` (requests in flight) and ``scoring`` (``echo`` or
      ``first_token``): the ``openai`` server;
    - ``m`` answers sampled per input with ``sampling``: ``generative`` tasks.
    """

    template: str | None = None
    normalize: str = "none"
    dtype: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    http_cache: str | os.PathLike[str] | None = None
    max_concurrency: int = 4
    scoring: str = "echo"
    m: int = defaults.M
    sampling: SamplingConfig = field(default_factory=SamplingConfig)


@dataclass(frozen=True)
class ScoreRequest:
    """One ``sua score`` run (module doc).

    - ``out``: the records (JSONL; ``<out stem>.meta.json`` beside it);
    - ``data`` (inputs to score with a model: JSONL, CSV, Parquet or ``hf:NAME:SPLIT``) or
      ``predictions`` (distributions already computed, with the ``labels`` of their columns,
      ``logits`` when they are logits): exactly one;
    - ``task``: a :class:`~sua.tasks.TaskKind` or a built-in kind's name;
    - ``model`` (:class:`ModelSpec`), ``lm`` (:class:`LMOptions`, language models only);
    - ``perturber``: the rewrite family (a name of :data:`sua.perturb.PERTURBERS`);
    - ``config``: K, the divergence, λ, the seed and the thresholds (its ``perturb_field`` is
      replaced by the task's ``rewrite``);
    - ``text_field``, ``pair_field``, ``label_field`` (the gold answers for QA), ``id_field``:
      ``None`` takes the task's, ``""`` (pair, label) none;
    - ``limit``: score only the first inputs; ``chunk_size``: inputs per model call (``None``: the
      scorer's default); ``overwrite``, ``allow_empty``, ``progress``: as for ``score_file``;
    - ``engine``: where an encoder classifier's records are computed (``None``: this process).
    """

    out: str | os.PathLike[str]
    data: str | os.PathLike[str] | None = None
    predictions: str | os.PathLike[str] | None = None
    labels: Sequence[str] | None = None
    logits: bool = False
    task: TaskKind | str = "classification"
    model: ModelSpec = field(default_factory=ModelSpec)
    lm: LMOptions = field(default_factory=LMOptions)
    perturber: str = "token"
    config: ScoringConfig = field(default_factory=ScoringConfig)
    text_field: str | None = None
    pair_field: str | None = None
    label_field: str | None = None
    id_field: str = "id"
    limit: int | None = None
    chunk_size: int | None = None
    overwrite: bool = False
    allow_empty: bool = False
    progress: bool = True
    engine: EngineFactory | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.predictions is None):
            raise SUAInputError("give exactly one of --data (inputs to score with a model) and "
                                "--from-predictions (distributions you already have)")


def score_request(request: ScoreRequest) -> Path:
    """Score ``request`` (module doc) into ``request.out``; returns its path. The data is checked
    and ``out`` refused as one of the inputs before any model is loaded."""
    from sua.outputs import check_not_an_input
    from sua.validate import check_data

    if request.predictions is not None:
        return _score_predictions(request.predictions, request)
    kind = get_kind(request.task)
    backend = request.model.backend
    if backend not in kind.backends:
        raise SUAInputError(f"--task {kind.name} is scored with --backend {' or '.join(kind.backends)}, "
                            f"not {backend}")
    fields = Fields.of_task(kind, text_field=request.text_field, pair_field=request.pair_field,
                            label_field=request.label_field, id_field=request.id_field)
    check_data(request.data, id_field=fields.id_field, limit=request.limit, allow_empty=request.allow_empty)
    check_not_an_input(request.out, [request.data])
    files = {"limit": request.limit, "overwrite": request.overwrite, "progress": request.progress,
             "allow_empty": request.allow_empty}
    if backend in LANGUAGE_MODELS:
        if request.engine is not None:
            raise SUAInputError("--engine ray scores encoder classifiers (--backend hf); for a language "
                                "model use --backend openai against a vLLM server")
        return _lm_scorer(request, kind).score_file(request.data, request.out, fields, **files)
    scorer, engine = _encoder_scorer(request, kind, fields)
    return scorer.score_file(request.data, request.out, fields, engine=engine, **files)


def _score_predictions(predictions: str | os.PathLike[str], request: ScoreRequest) -> Path:
    from sua.scoring.precomputed import score_predictions_file

    config = request.config
    return score_predictions_file(predictions, request.out, labels=request.labels,
                                  overwrite=request.overwrite, logits=request.logits,
                                  divergence=config.divergence, lam=config.lam, thresholds=config.thresholds,
                                  label_field=request.label_field or "label", id_field=request.id_field)


def _scorer_options(request: ScoreRequest, kind: TaskKind, metadata: dict[str, Any]) -> dict[str, Any]:
    """What every pipeline's scorer takes from ``request``: the config with the task's rewritten
    side, the run's metadata and a chunk size when one is given."""
    chunk = {} if request.chunk_size is None else {"chunk_size": request.chunk_size}
    return {"config": dataclasses.replace(request.config, perturb_field=kind.rewrite), "metadata": metadata,
            **chunk}


def _encoder_scorer(request: ScoreRequest, kind: TaskKind,
                    fields: Fields) -> tuple[SUAScorer, ScoringEngine | None]:
    """``backend="hf"``: the kind's encoder adapter and scorer, and the engine if one is asked."""
    from sua.models import load_model
    from sua.perturb.qx import qx_for_file
    from sua.scoring import SCORERS

    spec = request.model
    if spec.source is None:
        raise SUAInputError("--model is required with --backend hf (a classifier folder or hub name)")
    if request.lm.template is not None:
        raise SUAInputError("--template needs --backend hf-causal or openai")
    if kind.head != "classification" and (spec.options.revision or spec.allow_untrained_head):
        raise SUAInputError(f"--revision and --allow-untrained-head apply to classifiers, not "
                            f"--task {kind.name}")
    if kind.head == "qa" and request.engine is not None:
        raise SUAInputError("--engine ray scores classifiers; extractive QA runs locally")
    classifier = {"allow_untrained_head": spec.allow_untrained_head} if kind.head == "classification" else {}
    options = spec.options.sized(batch_size=64, max_length=256)
    batch_size = options.batch_size
    make_model = functools.partial(load_model, spec.source, head=kind.head, options=options, **classifier)
    model = make_model()
    perturber = qx_for_file(request.perturber, model, request.data, text_field=fields.text_field,
                            pair_field=fields.pair_field, rewrite=kind.rewrite, id_field=fields.id_field,
                            limit=request.limit)
    metadata = {"model_source": spec.source, "task": kind.name, "device": str(model.device)}
    scorer = SCORERS[kind.head](model, perturber, **_scorer_options(request, kind, metadata))
    engine = None if request.engine is None else request.engine(make_model, batch_size=batch_size)
    return scorer, engine


def _lm_scorer(request: ScoreRequest, kind: TaskKind) -> SUAScorer | GenerativeSUAScorer:
    """A language model's scorer: ``LMClassifier`` for label tasks, sampled answers for
    ``generative`` ones."""
    from sua.models.causal_lm import LMClassifier
    from sua.models.generation import AnswerSampler
    from sua.models.lm_backends import load_lm
    from sua.models.openai_client import OpenAIServer
    from sua.models.prompts import available_templates, load_template
    from sua.perturb import get_perturber

    spec, options = request.model, request.lm
    name = options.template if options.template is not None else kind.template
    if name is None:
        raise SUAInputError(f"task {kind.name!r} needs a prompt template: pass template= (--template), one "
                            f"of {available_templates()} or a JSON file")
    prompt = load_template(name)
    server = OpenAIServer(options.base_url, api_key=options.api_key, cache_dir=options.http_cache,
                          max_concurrency=options.max_concurrency) \
        if spec.backend == "openai" and options.base_url else None
    lm = load_lm(spec.backend, spec.source, options=spec.options, dtype=options.dtype, server=server,
                 scoring=options.scoring)
    metadata = {"backend": spec.backend, "model_source": spec.source, "task": kind.name, "lm": repr(lm),
                "template": prompt.name, "template_version": prompt.version, "dtype": options.dtype,
                "precision": spec.options.precision}
    if kind.head == "generative":
        sampler = AnswerSampler(lm, prompt, options.sampling)
        return GenerativeSUAScorer(sampler, get_perturber(request.perturber), m=options.m,
                                   **_scorer_options(request, kind, metadata))
    classifier = LMClassifier(lm, prompt, normalize=options.normalize)
    return SUAScorer(classifier, get_perturber(request.perturber),
                     **_scorer_options(request, kind, {**metadata, "normalize": options.normalize}))
