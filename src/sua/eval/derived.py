"""The paper's own NLI subsets (Section 6.2), built from a split's items: ``derive = NAME``.

- ``premise_synonyms`` (adversarial): the *premise* of each pair rewritten by WordNet synonym
  swaps (the token family's ``synonym`` kind), validated like every rewrite (MiniLM cosine ≥ 0.8,
  at most half the words changed); the first valid rewrite replaces the premise and the label is
  kept. Pairs with no valid rewrite are left out.
- ``modal_qualifier`` (ambiguous): a modal qualifier added to the premise — its first ``is`` /
  ``are`` becomes ``may be``, else the premise is prefixed with ``Possibly,``. The rule for
  which items stay: a qualified premise no longer *settles* the hypothesis, so an entailment or a
  contradiction becomes uncertain between its own label and ``neutral``; a neutral pair stays
  neutral and certain, so it is left out. Kept items carry ``labels = [gold, "neutral"]`` (both
  count as correct, as for AmbiEnt) and ``label = None``.

Deterministic: the rewrites depend only on (premise, id, seed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from sua.errors import SUAInputError
from sua.inputs import Example

_BE = re.compile(r"\b(is|are)\b")


def premise_synonyms(examples: Sequence[Example], seed: int = 0) -> list[Example]:
    """Pairs whose premise is replaced by its first valid WordNet-synonym rewrite (module doc)."""
    from sua.perturb import TokenPerturber, default_constraints, is_valid, validate

    swaps = TokenPerturber(kinds=("synonym",))
    constraints = default_constraints()
    out = []
    for ex in examples:
        proposals = [p for p in swaps.propose(ex.text, 4, input_id=ex.id, seed=seed) if p.text != ex.text]
        valid = [p for p in validate(ex.text, proposals, constraints) if is_valid(p)]
        if valid:
            out.append(replace(ex, id=f"{ex.id}~syn", text=valid[0].text,
                               meta={**ex.meta, "original_premise": ex.text}))
    return out


def qualify(premise: str) -> str:
    """The premise with a modal qualifier (module doc)."""
    if _BE.search(premise):
        return _BE.sub("may be", premise, count=1)
    return "Possibly, " + premise[:1].lower() + premise[1:]


def modal_qualifier(examples: Sequence[Example], seed: int = 0) -> list[Example]:
    """Entailment and contradiction pairs with a qualified premise and the gold set
    ``[label, "neutral"]`` (module doc); ``seed`` is unused (the rule is deterministic)."""
    return [replace(ex, id=f"{ex.id}~modal", text=qualify(ex.text), label=None,
                    meta={**ex.meta, "labels": [ex.label, "neutral"], "original_premise": ex.text})
            for ex in examples if ex.label in ("entailment", "contradiction")]


#: ``derive`` names a split may use.
DERIVATIONS: dict[str, Callable[[Sequence[Example], int], list[Example]]] = {
    "premise_synonyms": premise_synonyms,
    "modal_qualifier": modal_qualifier,
}


def derive(name: str, examples: Sequence[Example], seed: int = 0) -> list[Example]:
    """The derivation ``name`` of :data:`DERIVATIONS` applied to ``examples``."""
    if name not in DERIVATIONS:
        raise SUAInputError(f"unknown derivation {name!r}; known: {', '.join(DERIVATIONS)}")
    return DERIVATIONS[name](examples, seed)
