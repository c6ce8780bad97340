"""Post-hoc objects fitted on cached score records (no model pass): the abstention policy
with a target coverage or a certified target risk, λ selection, and the Section 4 checks."""

from sua.measures.metrics import coverage_threshold
from sua.selective.bounds import (
    AmbiguityGapCheck,
    ConfidenceBin,
    CoveredBound,
    Inequality,
    RiskBound,
    SmoothingRow,
    corollary_4_4,
    lemma_4_6,
    lemma_4_7,
    proposition_4_8,
    theorem_4_5_table,
    zero_one_risk,
)
from sua.selective.bounds_report import BoundsGrid, BoundsReport, bounds_report, check_bounds, format_bounds
from sua.selective.files import apply_policy_file, fit_policy_file
from sua.selective.lam import DEFAULT_LAMBDA_GRID, LambdaSelection, select_lambda
from sua.selective.policy import SCORES, SIGNATURE_MEANINGS, AbstentionPolicy
from sua.selective.risk_control import RiskCertificate, certify_fixed_sequence, clopper_pearson_upper
from sua.selective.temperature import TemperatureScaler

__all__ = [
    "DEFAULT_LAMBDA_GRID",
    "SCORES",
    "SIGNATURE_MEANINGS",
    "AbstentionPolicy",
    "AmbiguityGapCheck",
    "BoundsGrid",
    "BoundsReport",
    "ConfidenceBin",
    "CoveredBound",
    "Inequality",
    "LambdaSelection",
    "RiskBound",
    "RiskCertificate",
    "SmoothingRow",
    "TemperatureScaler",
    "apply_policy_file",
    "bounds_report",
    "certify_fixed_sequence",
    "check_bounds",
    "clopper_pearson_upper",
    "corollary_4_4",
    "coverage_threshold",
    "fit_policy_file",
    "format_bounds",
    "lemma_4_6",
    "lemma_4_7",
    "proposition_4_8",
    "select_lambda",
    "theorem_4_5_table",
    "zero_one_risk",
]
