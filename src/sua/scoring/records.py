"""The per-input score record written by the scorer (one JSONL line per input)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PerturbationResult:
    """One scored perturbation x'_k: the rewrite, how it was made, and what it did.

    ``probs`` is p(·|x'_k), kept so that every later estimator (other divergences, risk
    bounds, robust accuracy) is derived from the cached outputs without a model pass.
    ``correct`` says whether ``prediction`` (the model's answer on x'_k) is right, when the
    gold answer is known (classification: equals the label; extractive QA: exact match).
    """

    text: str
    kind: str
    family: str
    params: dict[str, Any]
    divergence: float
    prediction: str
    probs: list[float]
    correct: bool | None = None


@dataclass
class ScoreRecord:
    """Everything the scorer knows about one input x.

    ``sensitivity`` is Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)); ``sensitivity_worst`` the
    worst of the K; ``sua`` = Ŝ(x) − λ·H(x). The baseline failure scores (entropy,
    max-probability, normalised confidence) sit beside them, derived from the same cached
    predictions, so methods are compared on identical model outputs. ``extra`` holds a
    task's own small additions (extractive QA: ``f1``, ``em`` and the candidate span texts).
    """

    id: str
    prediction: str
    probs: list[float]
    entropy: float
    max_prob: float
    confidence: float
    sensitivity: float
    sensitivity_worst: float
    sua: float
    ambiguity: float
    signature: str
    label: str | None = None
    correct: bool | None = None
    perturbations: list[PerturbationResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
