"""Training configuration, the three methods and the Table 3 ablation presets."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from sua import defaults
from sua.errors import SUAInputError
from sua.tasks import PERTURB_FIELDS
from sua.train.adversarial import NORMS
from sua.train.loss import STOP_GRAD_SIDES
from sua.train.parallel import check_nproc

#: ``standard``: L_task only; ``at``: L_task on PGD embedding perturbations (Madry-style);
#: ``sua-tr``: eq. 15 with perturbations x' ~ Q_x.
METHODS = ("standard", "at", "sua-tr")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (written beside the model).

    Loss (:class:`~sua.train.loss.SUATRLoss`): ``alpha``, ``beta``, ``lam``, ``divergence``,
    ``stop_grad``. Perturbations for SUA-TR: ``k_train`` draws per example and epoch from the
    registered family ``perturber`` (built with ``perturber_options``) on the side of a pair
    named by ``perturb_field`` (a task kind's ``rewrite``; ``auto``: the second text of a pair, else the
    text; :func:`sua.tasks.rewritten_side`).
    Optimisation: AdamW (``lr``, ``weight_decay``), linear warm-up over ``warmup_ratio`` of the
    steps then linear decay, gradient-norm clipping at ``max_grad_norm``; an optimizer step
    takes ``grad_accum`` micro-batches of ``batch_size`` examples; ``epochs`` may be fractional.
    Adversarial training (``method="at"``): ``adv_steps`` PGD steps of size ``adv_step_size``
    (default ``2.5·adv_epsilon/adv_steps``, Madry et al.) in an ``adv_norm`` ball of radius
    ``adv_epsilon`` around the word embeddings; the loss is ``½·(L_task(x) + L_task(x + δ))``
    (Goodfellow et al., 2015) with ``adv_clean_loss``, else ``L_task(x + δ)`` alone (Madry et
    al.). Bookkeeping: a log line every ``log_every`` steps, held-out S/H/accuracy every
    ``eval_every`` steps (with ``eval_k`` perturbations), a checkpoint every ``save_every``
    steps keeping the latest ``keep_checkpoints``.
    Speed: ``precision`` ``bf16`` runs the forward passes under bfloat16 autocast (weights,
    gradients and optimizer state stay float32); ``length_buckets`` sorts each window of
    :data:`~sua.train.batches.BUCKET_BATCHES` batches of the epoch's order by token length
    before cutting it into batches (then shuffles the batches), so a batch is padded little;
    ``max_length=None`` derives the truncation length from the training inputs
    (:func:`~sua.train.lengths.derive_max_length`; classification only, QA takes
    :data:`~sua.train.lengths.QA_MAX_LENGTH`). Every batch is padded to its own longest input.
    """

    method: str = "sua-tr"
    alpha: float = 1.0
    beta: float = 1.0
    lam: float = defaults.LAM
    divergence: str = defaults.DIVERGENCE
    stop_grad: str = "perturbed"
    k_train: int = 2
    perturber: str = "token"
    perturber_options: dict[str, Any] = field(default_factory=dict)
    perturb_field: str = "auto"
    epochs: float = 1.0
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int | None = None
    seed: int = 0
    adv_steps: int = 3
    adv_epsilon: float = 5e-4  # MiniLM stays at chance on NLI at 0.01 and 0.002 (docs/results)
    adv_step_size: float | None = None
    adv_norm: str = "linf"
    adv_clean_loss: bool = True
    log_every: int = 10
    eval_every: int | None = None
    eval_k: int = defaults.K
    save_every: int | None = None
    keep_checkpoints: int = 1
    precision: str = "fp32"
    length_buckets: bool = True

    def __post_init__(self) -> None:
        self._check_method()
        self._check_choices()
        self._check_counts()
        self._check_ranges()

    def _check_method(self) -> None:
        """A known method; only ``sua-tr`` has the consistency and alignment terms."""
        if self.method not in METHODS:
            raise SUAInputError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method != "sua-tr" and (self.alpha or self.beta):
            raise SUAInputError(f"method {self.method!r} has no consistency or alignment term; "
                                f"alpha and beta must be 0 (got {self.alpha}, {self.beta}); use "
                                "method='sua-tr' for them")

    def _check_choices(self) -> None:
        """Each named setting is one of its allowed values."""
        choices = {"stop_grad": STOP_GRAD_SIDES, "adv_norm": NORMS, "perturb_field": PERTURB_FIELDS,
                   "precision": TRAIN_PRECISIONS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SUAInputError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def _check_counts(self) -> None:
        """Counts are positive integers (the optional ones may be ``None``)."""
        optional = {"eval_every", "save_every", "max_length"}
        for name in ("k_train", "batch_size", "grad_accum", "max_length", "adv_steps", "log_every",
                     "eval_k", "keep_checkpoints", *optional):
            value = getattr(self, name)
            if name in optional and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SUAInputError(f"{name} must be a positive integer, got {value!r}")

    def _check_ranges(self) -> None:
        """Step sizes and lengths are finite and positive; the warm-up is a fraction of the steps."""
        for name in ("epochs", "lr", "adv_epsilon"):
            if not 0 < getattr(self, name) < math.inf:
                raise SUAInputError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise SUAInputError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")

    @property
    def pgd_step_size(self) -> float:
        """The PGD step: ``adv_step_size`` or Madry's ``2.5·ε/k``."""
        return self.adv_step_size or 2.5 * self.adv_epsilon / self.adv_steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def training_dict(self) -> dict[str, Any]:
        """The fields that determine the weights (a resumed run must match them): all but
        logging, evaluation and checkpoint frequency."""
        return {k: v for k, v in self.to_dict().items() if k not in BOOKKEEPING}


@dataclass(frozen=True)
class TrainData:
    """The records a training run reads: the first ``limit`` records of ``path`` (all when
    ``None``) to train on and, for the log's held-out S/H/accuracy, the first ``eval_limit`` of
    ``eval_path`` (all when ``None``). Written into the run's ``config.json``.

    >>> TrainData("train.jsonl", limit=1000).eval_limit
    500
    """

    path: str | os.PathLike[str]
    limit: int | None = None
    eval_path: str | os.PathLike[str] | None = None
    eval_limit: int | None = 500

    def __post_init__(self) -> None:
        for name in ("limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise SUAInputError(f"{name} must be a positive integer or None (all records), got {value!r}")


@dataclass(frozen=True)
class Runtime:
    """Where and how a training run executes, never what it computes (none of it is compared
    when a run resumes): ``device`` (cpu, cuda, auto; ``None``: auto), a progress bar, and
    ``nproc`` data-parallel processes (:mod:`sua.train.parallel`: the same global batch and steps)."""

    device: str | None = None
    progress: bool = True
    nproc: int = 1

    def __post_init__(self) -> None:
        check_nproc(self.nproc)


def complete_saved(saved: dict[str, Any], rewrite: str | None = None) -> dict[str, Any]:
    """A training config as saved by an older version, with the fields added since filled in
    with the values those runs trained with (:data:`ADDED_FIELDS`), so it compares equal to the
    same config today. Runs saved before task kinds named the rewritten side say
    ``perturb_field="auto"``, which for every built-in kind is its ``rewrite``: given the run's
    ``rewrite``, such a saved ``auto`` reads as it."""
    completed = {**ADDED_FIELDS, **saved}
    if rewrite is not None and completed.get("perturb_field") == "auto":
        completed["perturb_field"] = rewrite
    return completed


#: Fields added after runs were first saved, and the behaviour a config without them had.
ADDED_FIELDS: dict[str, Any] = {"precision": "fp32", "length_buckets": False}

#: Training arithmetic (``precision``): float32, or bfloat16 autocast for the forward passes.
TRAIN_PRECISIONS = ("fp32", "bf16")

#: Fields that change what is written, never the trained weights.
BOOKKEEPING = frozenset({"log_every", "eval_every", "eval_k", "save_every", "keep_checkpoints"})


#: Named runs: the three methods and the Table 3 ablations (all on top of the defaults).
PRESETS: dict[str, dict[str, Any]] = {
    "standard": {"method": "standard", "alpha": 0.0, "beta": 0.0},
    "at": {"method": "at", "alpha": 0.0, "beta": 0.0},
    "sua-tr": {"method": "sua-tr"},
    "sua-tr-no-cons": {"method": "sua-tr", "alpha": 0.0},
    "sua-tr-no-align": {"method": "sua-tr", "beta": 0.0},
    "sua-tr-adv-only": {"method": "sua-tr", "perturber": "adversarial"},
    "sua-tr-para-only": {"method": "sua-tr", "perturber": "paraphrase"},
    "sua-tr-mixture": {"method": "sua-tr", "perturber": "mixture"},
    "sua-tr-k4": {"method": "sua-tr", "k_train": 4},
    "sua-tr-k8": {"method": "sua-tr", "k_train": 8},
    "sua-tr-k16": {"method": "sua-tr", "k_train": 16},
}


def make_config(preset: str = "sua-tr", **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a named preset (see :data:`PRESETS`) with ``overrides``.

    >>> make_config("sua-tr-k4", epochs=2).k_train
    4
    """
    if preset not in PRESETS:
        raise SUAInputError(f"unknown training preset {preset!r}; known: {', '.join(PRESETS)}")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SUAInputError(f"unknown training option(s) {unknown}; known: {', '.join(sorted(known))}")
    return TrainConfig(**{**PRESETS[preset], **overrides})
