"""The mixture Q_x = sum_f w_f Q_x^f over perturbation families, with validity checks and fallback.

For one input the K draws are split across families by a multinomial on the input's own random
stream, ``(n_f) ~ Multinomial(K, w)``, so in expectation family ``f`` supplies ``w_f K`` of them.
Each family proposes up to ``OVERSAMPLE·K`` rewrites (:meth:`~sua.perturb.base.Proposer.propose`);
the ones failing a constraint (:mod:`sua.perturb.constraints`) are dropped, and family ``f``
contributes its first ``n_f`` valid proposals that are distinct from the input and from each
other (a sample without replacement from the valid support). Distinct means a different
``distinct_key(text)``: by default the text itself, and for a model the input as the model sees
it (its token ids: a casing change is no rewrite at all for an uncased model, and would add an
exact 0 to S(x)). When a family has fewer, the shortfall is filled from the other families' next
valid proposals, in order of decreasing weight (then name), and those records carry
``params["fallback"] = True``. If all families together have fewer than K valid rewrites, the
valid ones are repeated (``params["repeat"] = True``); with none at all the input comes back
unchanged (kind ``identity``), which adds 0 to S(x).

Default families and weights (SPEC): paraphrase 0.4 (back-translation), token 0.4 (typo,
WordNet synonym, casing, punctuation), adversarial 0.2 (needs ``model``). A family without what
it needs (adversarial without a model) drops out and the weights of the others are
renormalised; :attr:`MixturePerturber.dropped` and the ``repr`` (written into run configs) say so.

Deterministic: everything depends only on (text, input_id, seed) and the configuration, never
on batch order — the adversarial family up to its model's float noise between batch
compositions (:mod:`sua.perturb.adversarial`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.models.base import PredictiveModel
from sua.perturb.adversarial import AdversarialPerturber
from sua.perturb.base import (
    DrawRequest,
    Perturbation,
    Proposer,
    check_request,
    input_rng,
    prepare_draws,
    repeat_to_k,
)
from sua.perturb.constraints import Constraint, default_constraints, is_valid, validate
from sua.perturb.paraphrase import ParaphrasePerturber
from sua.perturb.protect import Protector
from sua.perturb.token import TokenPerturber

FAMILY = "mixture"
#: SPEC's default family weights.
DEFAULT_WEIGHTS: dict[str, float] = {"paraphrase": 0.4, "token": 0.4, "adversarial": 0.2}
#: The token family's kinds and weights inside the default mixture.
DEFAULT_TOKEN_KINDS: dict[str, float] = {"typo": 1.0, "synonym": 2.0, "casing": 0.5, "punctuation": 0.5}

#: Each family is asked for this many times K proposals, so that draws rejected as invalid or as
#: duplicates (of the input or of each other) can be replaced by the family's next ones.
OVERSAMPLE = 2

log = logging.getLogger(__name__)


def default_families(
    model: PredictiveModel | None = None,
    *,
    protect: Protector | None = None,
    to_model_input: Callable[[str, str], ModelInput] | None = None,
) -> dict[str, Proposer]:
    """The default paraphrase and token families, plus adversarial when ``model`` is given."""
    families: dict[str, Proposer] = {
        "paraphrase": ParaphrasePerturber(protect=protect),
        "token": TokenPerturber(tuple(DEFAULT_TOKEN_KINDS), tuple(DEFAULT_TOKEN_KINDS.values()),
                                protect=protect),
    }
    if model is not None:
        families["adversarial"] = AdversarialPerturber(model, protect=protect, to_model_input=to_model_input)
    return families


def model_input_key(model: Any) -> Callable[[str], Hashable] | None:
    """``text -> token ids`` of the model's tokenizer (looked up on ``model`` or the adapter it
    wraps), or ``None`` when the model exposes no tokenizer (then texts are compared as is)."""
    while model is not None and getattr(model, "tokenizer", None) is None:
        model = getattr(model, "model", None)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        return None
    return _TokenKey(tokenizer)


class _TokenKey:
    """``text -> tuple(token ids)`` without special tokens (a named callable, for the run's repr)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __repr__(self) -> str:
        return f"token_ids({getattr(self.tokenizer, 'name_or_path', type(self.tokenizer).__name__)})"

    def __call__(self, text: str) -> Hashable:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])


class MixturePerturber:
    """Exactly K validated draws per input from a weighted mixture of families (module doc).

    ``families``: name -> perturber with ``propose`` (default :func:`default_families` built
    from ``model``, ``protect`` and ``to_model_input``). ``weights``: name -> weight (default
    :data:`DEFAULT_WEIGHTS`); weighted families missing from ``families`` drop out and the rest
    are renormalised. ``constraints``: checks every proposal must pass (default
    :func:`~sua.perturb.constraints.default_constraints`). ``distinct_key``: what makes two
    draws distinct (default: :func:`model_input_key` of ``model`` when one is given, so a
    mixture built for a model, e.g. SUA-TR's training Q_x, counts draws as the model sees them;
    else the text).

    :meth:`acceptance_rates` reports, per family, valid proposals / proposals seen so far.
    """

    family = FAMILY

    def __init__(
        self,
        families: Mapping[str, Proposer] | None = None,
        weights: Mapping[str, float] | None = None,
        *,
        model: PredictiveModel | None = None,
        constraints: Sequence[Constraint] | None = None,
        protect: Protector | None = None,
        to_model_input: Callable[[str, str], ModelInput] | None = None,
        distinct_key: Callable[[str], Hashable] | None = None,
    ) -> None:
        if families is None:
            families = default_families(model, protect=protect, to_model_input=to_model_input)
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        bad = {f: w for f, w in weights.items()
               if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0)}
        if bad:
            raise SUAInputError(f"mixture weights must be finite and >= 0, got {bad}")
        self.dropped: tuple[str, ...] = tuple(sorted(f for f in weights if f not in families))
        kept = {f: float(w) for f, w in weights.items() if f in families and w > 0}
        if not kept:
            raise SUAInputError(f"no family left with a positive weight: weights {weights}, families "
                                f"{sorted(families)}")
        total = sum(kept.values())
        self.weights: dict[str, float] = {f: w / total for f, w in kept.items()}
        self.families = {f: families[f] for f in self.weights}
        self.constraints = list(default_constraints(protect) if constraints is None else constraints)
        if distinct_key is None and model is not None:
            distinct_key = model_input_key(model)
        self.distinct_key = distinct_key
        self._seen = dict.fromkeys(self.families, 0)
        self._valid = dict.fromkeys(self.families, 0)
        if self.dropped:
            log.info("mixture: families %s dropped (not available); weights renormalised to %s",
                     list(self.dropped), self.weights)

    def __repr__(self) -> str:
        return (f"MixturePerturber(families={self.families!r}, weights={self.weights!r}, "
                f"dropped={self.dropped!r}, constraints={self.constraints!r}, "
                f"distinct_key={self.distinct_key!r})")

    def prepare_draws(self, requests: Sequence[DrawRequest], k: int) -> None:
        """Each family's batched work (:func:`~sua.perturb.base.prepare_draws`: translations, POS
        tags, the adversarial searches run together) ahead of the draws of ``k``, for those
        ``requests`` (text, input id, seed) whose :meth:`shares` take the family and whose
        proposals it does not hold already (a cached family's ``has_proposals``). At K = 8 and
        weight 0.2, 17 % of the inputs take no adversarial draw; a fallback that reaches a family
        not prepared for the input draws from it on its own."""
        n = OVERSAMPLE * k
        shares = [self.shares(k, input_id=input_id, seed=seed) for _, input_id, seed in requests]
        for name, family in self.families.items():
            held = getattr(family, "has_proposals", None)
            wanted = [(text, i, seed) for (text, i, seed), share in zip(requests, shares, strict=True)
                      if share[name] and not (held is not None and held(text, n, input_id=i, seed=seed))]
            prepare_draws(family, wanted, k)

    def shares(self, k: int, *, input_id: str, seed: int) -> dict[str, int]:
        """How many of an input's ``k`` draws each family gives before fallbacks:
        ``(n_f) ~ Multinomial(k, w)`` on the input's own random stream."""
        rng = input_rng(seed, f"{input_id}#mixture")
        return dict(zip(self.weights, map(int, rng.multinomial(k, list(self.weights.values()))), strict=True))

    def acceptance_counts(self) -> dict[str, tuple[int, int]]:
        """Per family: (valid proposals, proposals validated) so far; counts from several copies
        of the mixture (workers of a distributed job) add up."""
        return {f: (self._valid[f], n) for f, n in self._seen.items()}

    def acceptance_rates(self) -> dict[str, float]:
        """Per family: valid proposals / proposals validated so far (nan before any)."""
        return acceptance_rates(self.acceptance_counts())

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]:
        """Exactly ``k`` draws for ``text`` (module doc): each family's multinomial share, the
        shortfall filled from the other families, then repeats (or the identity) up to ``k``."""
        check_request(text, k, input_id, seed)
        draw = _Draw(self, text, k, input_id=input_id, seed=seed)
        drawn = draw.shares()
        drawn += draw.fallbacks(k - len(drawn))
        if not drawn:
            return repeat_to_k([], k, text, FAMILY, int(seed))
        return [r if i < len(drawn) else _marked(r, "fallback")
                for i, r in enumerate(repeat_to_k(drawn, k, text, FAMILY, int(seed)))]

    def _validated(self, name: str, text: str, n: int, *, input_id: str, seed: int) -> list[Perturbation]:
        """Family ``name``'s ``n`` proposals for ``text`` that pass every constraint, in the
        family's order; counted in :meth:`acceptance_counts`."""
        proposed = self.families[name].propose(text, n, input_id=input_id, seed=seed)
        valid = [r for r in validate(text, proposed, self.constraints) if is_valid(r)]
        self._seen[name] += len(proposed)
        self._valid[name] += len(valid)
        return valid


class _Draw:
    """One input's draw from a mixture: each family's validated proposals (asked for once,
    ``OVERSAMPLE·k`` of them) read in order, skipping any whose ``distinct_key`` was drawn
    already or is the input's own."""

    def __init__(self, mixture: MixturePerturber, text: str, k: int, *, input_id: str, seed: int) -> None:
        self.mixture, self.text, self.k, self.input_id, self.seed = mixture, text, k, input_id, seed
        self.key: Callable[[str], Hashable] = mixture.distinct_key or (lambda t: t)
        self.seen: set[Hashable] = {self.key(text)}
        self.pools: dict[str, list[Perturbation]] = {}
        self.cursor = dict.fromkeys(mixture.weights, 0)

    def shares(self) -> list[Perturbation]:
        """Up to ``n_f`` draws of each family ``f``, ``n_f`` its :meth:`MixturePerturber.shares`."""
        drawn: list[Perturbation] = []
        for name, n in self.mixture.shares(self.k, input_id=self.input_id, seed=self.seed).items():
            if n:
                drawn += self.take(name, n, fallback=False)
        return drawn

    def fallbacks(self, missing: int) -> list[Perturbation]:
        """Up to ``missing`` more draws, from the families in order of decreasing weight (then
        name), each marked ``params["fallback"] = True``."""
        weights = self.mixture.weights
        drawn: list[Perturbation] = []
        for name in sorted(weights, key=lambda f: (-weights[f], f)):
            if len(drawn) == missing:
                break
            drawn += self.take(name, missing - len(drawn), fallback=True)
        return drawn

    def take(self, name: str, n: int, *, fallback: bool) -> list[Perturbation]:
        """Family ``name``'s next ``n`` distinct valid proposals (fewer when it runs out)."""
        if name not in self.pools:
            self.pools[name] = self.mixture._validated(name, self.text, OVERSAMPLE * self.k,
                                                       input_id=self.input_id, seed=self.seed)
        got, items = [], self.pools[name]
        while len(got) < n and self.cursor[name] < len(items):
            record = items[self.cursor[name]]
            self.cursor[name] += 1
            if self.key(record.text) not in self.seen:
                self.seen.add(self.key(record.text))
                got.append(_marked(record, "fallback") if fallback else record)
        return got


def acceptance_rates(counts: Mapping[str, tuple[int, int]]) -> dict[str, float]:
    """``valid / seen`` per family of :meth:`MixturePerturber.acceptance_counts` (nan when none seen)."""
    return {f: valid / seen if seen else float("nan") for f, (valid, seen) in counts.items()}


def _marked(record: Perturbation, flag: str) -> Perturbation:
    return replace(record, params={**record.params, flag: True})
