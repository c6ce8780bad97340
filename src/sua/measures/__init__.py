"""Pure SUA measures on arrays: numpy in -> numpy out, torch in -> torch out (differentiable).

Shapes: distributions ``(N, C)``, perturbed distributions ``(N, K, C)``, per-input values
``(N,)``. Natural logarithms (nats) throughout. Formulas follow ``paper/SPEC.md``.
"""

from sua.measures.ambiguity import ambiguity_collapse, ambiguity_proxy
from sua.measures.answers import exact_match, f1_score, normalize_answer
from sua.measures.confidence import max_probability, normalised_confidence
from sua.measures.divergences import (
    DivergenceFn,
    available_divergences,
    divergence,
    f_divergence,
    get_divergence,
    register_divergence,
)
from sua.measures.entropy import entropy, true_entropy
from sua.measures.ranking import failure_auroc
from sua.measures.score import miscalibration_gap, sua_risk, sua_score
from sua.measures.sensitivity import Sensitivity, sensitivity
from sua.measures.signature import SIGNATURES, signature
from sua.measures.validation import check_probabilities

__all__ = [
    "SIGNATURES",
    "DivergenceFn",
    "Sensitivity",
    "ambiguity_collapse",
    "ambiguity_proxy",
    "available_divergences",
    "check_probabilities",
    "divergence",
    "entropy",
    "exact_match",
    "f1_score",
    "f_divergence",
    "failure_auroc",
    "get_divergence",
    "max_probability",
    "miscalibration_gap",
    "normalize_answer",
    "normalised_confidence",
    "register_divergence",
    "sensitivity",
    "signature",
    "sua_risk",
    "sua_score",
    "true_entropy",
]
