"""Every failure-prediction score the experiments compare, from cached score records.

Higher = more likely wrong. The unfitted ones are the registry's
(:data:`sua.measures.failure_scores.FAILURE_SCORES`, with ``max_prob`` the answer's probability
of :func:`answer_confidence`). Scores that need fitting (λ selection, the Appendix C combined
rule's scales, the logistic (S, H) score, temperature scaling) are fitted on validation
records and applied unchanged to every test subset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.measures import sua_score
from sua.measures.failure_scores import failure_score
from sua.selective import TemperatureScaler, select_lambda

#: Display names, in table order.
SCORE_NAMES = ("SUA (λ=1)", "SUA (λ from val.)", "S", "combined (App. C)", "logistic (S, H)",
               "entropy", "1 − max prob", "1 − max prob (TS)", "1 − self-consistency")
#: The paper's name for the scores its figures show.
PAPER_NAMES = {"SUA (λ=1)": "SUA", "entropy": "Entropy", "1 − self-consistency": "Self-Consist."}


@dataclass
class FittedScores:
    """What was fitted on validation: the selected λ, the validation values of SUA (λ=1) and
    H (the combined rule's empirical CDFs), the logistic (S, H) model and the temperature
    (``None`` where the records carry no label index, e.g. QA spans)."""

    lam: float
    sua_val: np.ndarray
    h_val: np.ndarray
    logistic: Any
    temperature: float | None


def _column(records: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    return np.asarray([float(r[key]) for r in records], dtype=np.float64)


def _wrong(records: Sequence[dict[str, Any]]) -> np.ndarray:
    if any(r.get("correct") is None for r in records):
        raise SUAInputError("fitting failure scores needs records with a known `correct`")
    return np.asarray([not r["correct"] for r in records])


def _ecdf(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """F(v) = share of ``reference`` ≤ v."""
    return np.searchsorted(np.sort(reference), values, side="right") / len(reference)


def fit_scores(val: Sequence[dict[str, Any]], labels: Sequence[str] | None = None) -> FittedScores:
    """Fit the validation-dependent scores on labelled validation records.

    λ maximises the failure AUROC of S − λH over the default grid (λ = 1 when validation holds
    only right or only wrong predictions, and then no logistic score); the logistic score is
    P(wrong | S, H) of a logistic regression on standardised (S, H); the temperature T
    minimises the NLL of softmax(log p / T) (equal to scaling the logits) when every record's
    label is one of ``labels``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    wrong = _wrong(val)
    s, h = _column(val, "sensitivity"), _column(val, "entropy")
    both = 0 < wrong.sum() < len(wrong)  # else λ stays at the default 1 and no logistic score
    logistic = None
    if both:
        logistic = make_pipeline(StandardScaler(), LogisticRegression()).fit(np.column_stack([s, h]), wrong)
    temperature = None
    if labels is not None and all(r.get("label") in labels for r in val):
        index = {name: i for i, name in enumerate(labels)}
        logits = np.log(np.clip(np.asarray([r["probs"] for r in val]), 1e-12, None))
        y = np.asarray([index[r["label"]] for r in val])
        temperature = float(TemperatureScaler().fit(logits, y).temperature_)
    lam = select_lambda(val).lam if both else 1.0
    return FittedScores(lam=lam, sua_val=np.asarray(sua_score(s, h, 1.0)), h_val=h, logistic=logistic,
                        temperature=temperature)


def failure_scores(records: Sequence[dict[str, Any]], fitted: FittedScores,
                   agreement: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each score of :data:`SCORE_NAMES` for ``records`` (left out where it cannot be computed:
    no temperature, no self-consistency votes, a single-class validation set)."""
    s, h = _column(records, "sensitivity"), _column(records, "entropy")
    columns = {"sensitivity": s, "entropy": h, "max_prob": answer_confidence(records)}
    sua1 = np.asarray(sua_score(s, h, 1.0))
    out = {
        "SUA (λ=1)": sua1,
        "SUA (λ from val.)": np.asarray(sua_score(s, h, fitted.lam)),
        "S": failure_score("sensitivity", columns),
        "combined (App. C)": np.maximum(_ecdf(fitted.sua_val, sua1), _ecdf(fitted.h_val, h)),
        "entropy": failure_score("entropy", columns),
        "1 − max prob": failure_score("1-max_prob", columns),
    }
    if fitted.logistic is not None:
        out["logistic (S, H)"] = fitted.logistic.predict_proba(np.column_stack([s, h]))[:, 1]
    if fitted.temperature is not None:
        out["1 − max prob (TS)"] = 1.0 - temperature_scaled(records, fitted.temperature).max(-1)
    if agreement is not None:
        out["1 − self-consistency"] = 1.0 - np.asarray(agreement, dtype=np.float64)
    return {name: out[name] for name in SCORE_NAMES if name in out}


def answer_confidence(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """The probability of each record's predicted answer: ``max_prob`` for classification; for
    extractive QA (records with ``extra.candidates``) the clean question's top span,
    ``probs[0]`` — not the max over outcomes, which can be the "other spans" bucket."""
    return np.asarray([float(r["probs"][0]) if "candidates" in (r.get("extra") or {})
                       else float(r["max_prob"]) for r in records], dtype=np.float64)


def temperature_scaled(records: Sequence[dict[str, Any]], temperature: float) -> np.ndarray:
    """softmax(log p / T) of each record's ``probs`` (the same as dividing the logits by T)."""
    logp = np.log(np.clip(np.asarray([r["probs"] for r in records], dtype=np.float64), 1e-300, None))
    z = logp / temperature
    z -= z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)
