"""The perturbation distribution Q_x: meaning-preserving rewrites of an input, as records.

Every draw is a :class:`Perturbation` (text, kind, family, params, seed, similarity,
constraints) made from a random stream owned by one (seed, input id), so results never depend
on batch order. Families: ``token`` (typos, casing, punctuation, whitespace, WordNet synonyms),
``paraphrase`` (back-translation), ``adversarial`` (label-free greedy search against a model),
and their weighted ``mixture`` with validity constraints; :class:`CachedPerturber` stores draws
on disk and :func:`perturb_file` perturbs a JSONL file.
"""

from sua.perturb.adversarial import AdversarialPerturber
from sua.perturb.base import Perturbation, Perturber, Proposer, input_rng
from sua.perturb.cache import CachedPerturber, default_cache_dir
from sua.perturb.constraints import (
    BiEntailment,
    Constraint,
    EmbeddingSimilarity,
    KeepsProtected,
    MaxEditDistance,
    MaxModifiedWords,
    SentenceEmbedder,
    default_constraints,
    is_valid,
    validate,
)
from sua.perturb.files import PerturbConfig, perturb_file
from sua.perturb.mixture import DEFAULT_WEIGHTS, MixturePerturber, default_families
from sua.perturb.paraphrase import BackTranslator, ParaphrasePerturber
from sua.perturb.protect import (
    PROTECTORS,
    Protector,
    combine_protectors,
    protect_negations,
    protect_numbers,
    protector_from_names,
)
from sua.perturb.registry import PERTURBERS, build_perturber, get_perturber
from sua.perturb.synonyms import SynonymSource
from sua.perturb.token import TokenPerturber

__all__ = [
    "DEFAULT_WEIGHTS",
    "PERTURBERS",
    "PROTECTORS",
    "AdversarialPerturber",
    "BackTranslator",
    "BiEntailment",
    "CachedPerturber",
    "Constraint",
    "EmbeddingSimilarity",
    "KeepsProtected",
    "MaxEditDistance",
    "MaxModifiedWords",
    "MixturePerturber",
    "ParaphrasePerturber",
    "PerturbConfig",
    "Perturbation",
    "Perturber",
    "Proposer",
    "Protector",
    "SentenceEmbedder",
    "SynonymSource",
    "TokenPerturber",
    "build_perturber",
    "combine_protectors",
    "default_cache_dir",
    "default_constraints",
    "default_families",
    "get_perturber",
    "input_rng",
    "is_valid",
    "perturb_file",
    "protect_negations",
    "protect_numbers",
    "protector_from_names",
    "validate",
]
