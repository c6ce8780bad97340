"""Perturbation families by name: adding one is one class plus one :data:`PERTURBERS` line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sua.errors import SUAInputError
from sua.perturb.adversarial import AdversarialPerturber
from sua.perturb.base import Perturber
from sua.perturb.mixture import MixturePerturber
from sua.perturb.paraphrase import ParaphrasePerturber
from sua.perturb.token import TokenPerturber

#: Family name -> constructor taking the family's keyword options.
PERTURBERS: dict[str, Callable[..., Perturber]] = {
    "token": TokenPerturber,
    "paraphrase": ParaphrasePerturber,
    "adversarial": AdversarialPerturber,
    "mixture": MixturePerturber,
}


def get_perturber(name: str, **kwargs: Any) -> Perturber:
    """Build the perturber registered as ``name`` with ``kwargs``.

    >>> get_perturber("token", kinds=("typo",), max_edits=2)
    TokenPerturber(kinds=('typo',), weights=(1.0,), max_edits=2, protect=None)
    """
    if name not in PERTURBERS:
        raise SUAInputError(f"unknown perturber {name!r}; known: {sorted(PERTURBERS)}")
    return PERTURBERS[name](**kwargs)
