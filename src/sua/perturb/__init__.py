"""The perturbation distribution Q_x: meaning-preserving rewrites of an input, as records.

Every draw is a :class:`Perturbation` (text, kind, family, params, seed) made from a random
stream owned by one (seed, input id), so results never depend on batch order.
"""

from sua.perturb.base import Perturbation, Perturber, input_rng
from sua.perturb.protect import Protector, combine_protectors, protect_negations, protect_numbers
from sua.perturb.registry import PERTURBERS, get_perturber
from sua.perturb.token import TokenPerturber

__all__ = [
    "PERTURBERS",
    "Perturbation",
    "Perturber",
    "Protector",
    "TokenPerturber",
    "combine_protectors",
    "get_perturber",
    "input_rng",
    "protect_negations",
    "protect_numbers",
]
