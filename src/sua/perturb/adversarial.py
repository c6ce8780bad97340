"""Adversarial proposals: a label-free, gradient-free greedy search for the rewrites that move
the model's predictive distribution most, under the same validity constraints as Q_x.

Goal (no label needed): maximise ``D(p(.|x) || p(.|x'))`` over valid word swaps x'.

1. Sites: the words that have a WordNet synonym (:mod:`sua.perturb.synonyms`) or can take a
   keyboard typo (words of >= 4 letters), outside protected spans. Each site's replacements are
   all its synonyms plus ``typos`` random typos.
2. Importance by deletion: ``I(w) = D(p(.|x) || p(.|x without w))``, one batched model call
   (skipped, keeping text order, when it would take more than half the remaining budget).
3. Greedy: visit sites by decreasing ``I``; try every replacement of the site on the current
   text, drop the candidates that fail a constraint, score the rest in one batch and keep the
   best if it raises ``D`` above the current text's. Stop after ``max_swaps`` kept swaps or
   when the ``budget`` of model inputs (clean text and deletions included) is spent.
4. Every valid candidate scored on the way is a proposal; the ``n`` with the largest ``D`` are
   returned, largest first, each with its ``D`` and edits.

One search asks the model for a few inputs at a time (2.2 on average on SNLI hypotheses), where
a forward of one input costs about as much as of eight. :meth:`AdversarialPerturber.search_many`
therefore runs many searches in lockstep: each round, every unfinished search's next model
inputs go to the model in one call, and the candidates it is about to validate to the sentence
embedder in one call (filling its cache). Each search takes the same steps as alone; its
results match a search run alone up to the models' float noise between batch compositions (on
64 SNLI test hypotheses against a bf16 MiniLM NLI model: the same proposals on 61, D within
0.004, at 2.5–3.2× the speed; ``benchmarks/bench_adversarial.py``).
:meth:`AdversarialPerturber.prepare_draws` runs the searches of a chunk this way ahead of
the per-input calls, which then take them from a memo; at most :data:`LOCKSTEP` searches go
together (a training epoch prepares all its inputs at once).

So, unlike the model-free families, an adversarial proposal is a function of (text, input id,
seed) and the model only up to that float noise: where a model's output moves in its last bits
with the batch it is computed in (bf16 autocast, padding to the longest input), a different
chunking (another chunk size, a resumed run, another engine) can order a near tie the other way.

Like TextAttack's TextFooler (goal + constraints + transformation + search), with the
label-free SUA goal; the model is only called through :meth:`PredictiveModel.predict_proba`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from sua import defaults
from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.measures import divergence
from sua.models.base import PredictiveModel
from sua.perturb._sampling import pick
from sua.perturb.base import DrawRequest, Perturbation, check_request, input_rng, is_int, repeat_to_k
from sua.perturb.constraints import (
    Constraint,
    EmbeddingSimilarity,
    SentenceEmbedder,
    default_constraints,
    is_valid,
    validate,
)
from sua.perturb.kinds import Doc, Typo
from sua.perturb.protect import Protector, Span
from sua.perturb.synonyms import SynonymSource, default_synonyms
from sua.perturb.typos import TYPO_OPS

FAMILY = "adversarial"
_TYPO = Typo()

#: The most searches run together: a group's embeddings stay well inside the sentence
#: embedder's cache (50,000 texts), which they are computed into ahead of their validation.
LOCKSTEP = 256
#: What a search asks for next: the model's probabilities on some inputs (``"predict"``), or
#: the sentence embeddings of the texts it is about to validate, computed ahead (``"embed"``).
_Ask = tuple[str, list[Any]]


class AdversarialPerturber:
    """Greedy label-free search (module doc) against ``model``; satisfies the Perturber protocol.

    ``to_model_input(input_id, text)`` builds the model input from a rewrite (default: the text;
    for NLI with the hypothesis perturbed: ``lambda i, h: (premise[i], h)``). ``budget``: model
    inputs per text, at least 2. ``max_swaps``: swaps kept on one text. ``typos``: typo
    replacements tried per word (0 for synonyms only). ``constraints``: default
    :func:`~sua.perturb.constraints.default_constraints`. ``divergence``: a name from
    :func:`sua.measures.available_divergences`.

    Records: kind ``adversarial_swap``, ``params = {"edits": [{"op", "start", "before",
    "after"}...], "divergence": D, "queries": q}``, ``similarity`` and ``constraints`` filled.
    """

    family = FAMILY

    # noqa reason: build_perturber and the CLI give every family its options as flat keywords
    def __init__(  # noqa: PLR0913
        self,
        model: PredictiveModel,
        *,
        synonyms: SynonymSource | None = None,
        typos: int = 2,
        budget: int = 64,
        max_swaps: int = 2,
        constraints: Sequence[Constraint] | None = None,
        divergence: str = defaults.DIVERGENCE,
        protect: Protector | None = None,
        to_model_input: Callable[[str, str], ModelInput] | None = None,
    ) -> None:
        if not callable(getattr(model, "predict_proba", None)):
            raise SUAInputError(f"the adversarial goal needs a model with predict_proba, got {model!r}")
        for name, value, low in (("typos", typos, 0), ("budget", budget, 2), ("max_swaps", max_swaps, 1)):
            if not is_int(value) or value < low:
                raise SUAInputError(f"{name} must be an integer >= {low}, got {value!r}")
        self.model = model
        self.synonyms = synonyms or default_synonyms()
        self.typos = typos
        self.budget = budget
        self.max_swaps = max_swaps
        self.constraints = list(default_constraints(protect) if constraints is None else constraints)
        self.divergence = divergence
        self.protect = protect
        self.to_model_input = to_model_input
        self._searched: dict[DrawRequest, list[Perturbation]] = {}

    def __repr__(self) -> str:
        protect = getattr(self.protect, "__qualname__", repr(self.protect))
        return (f"AdversarialPerturber({self.model!r}, synonyms={self.synonyms!r}, typos={self.typos}, "
                f"budget={self.budget}, max_swaps={self.max_swaps}, constraints={self.constraints!r}, "
                f"divergence={self.divergence!r}, protect={protect})")

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]:
        return repeat_to_k(self.propose(text, k, input_id=input_id, seed=seed), k, text, FAMILY, int(seed))

    def propose(self, text: str, n: int, *, input_id: str, seed: int) -> list[Perturbation]:
        """Up to ``n`` valid proposals with the largest ``D``, largest first (searched now, or
        taken from :meth:`prepare_draws`)."""
        check_request(text, n, input_id, seed)
        found = self._searched.pop((text, input_id, int(seed)), None)
        if found is None:
            found = self.search_many([(text, input_id, int(seed))])[0]
        return found[:n]

    def prepare_draws(self, requests: Sequence[DrawRequest], k: int) -> None:
        """Tag the texts of ``requests`` at once (:meth:`prepare`), run their searches together
        (:meth:`search_many`) and keep the results for the :meth:`propose` call of each; what
        an earlier call kept is dropped. ``k``, the draws each will be asked for, does not
        change a search (it runs to its budget)."""
        unique = list(dict.fromkeys((text, input_id, int(seed)) for text, input_id, seed in requests))
        self.prepare([text for text, _, _ in unique])
        self._searched = dict(zip(unique, self.search_many(unique), strict=True))

    def search_many(self, requests: Sequence[DrawRequest]) -> list[list[Perturbation]]:
        """Every valid proposal of each request's search, largest ``D`` first: the searches run
        in lockstep, :data:`LOCKSTEP` at a time, each round's model inputs in one model call
        (module doc)."""
        return [found for start in range(0, len(requests), LOCKSTEP)
                for found in self._lockstep(requests[start:start + LOCKSTEP])]

    def _lockstep(self, requests: Sequence[DrawRequest]) -> list[list[Perturbation]]:
        searches = [_Search(self, text, input_id, int(seed)).steps() for text, input_id, seed in requests]
        results: list[list[Perturbation]] = [[] for _ in searches]
        asks: dict[int, _Ask] = {}
        answers: dict[int, np.ndarray | None] = dict.fromkeys(range(len(searches)))
        embedders = self._embedders()
        while answers:
            for i, answer in answers.items():
                try:
                    asks[i] = searches[i].send(answer)
                except StopIteration as done:
                    results[i] = done.value
            answers = {}
            texts = [t for kind, items in asks.values() if kind == "embed" for t in items]
            for embedder in embedders:
                embedder.encode(list(dict.fromkeys(texts)))
            inputs = [x for kind, items in asks.values() if kind == "predict" for x in items]
            probs = np.asarray(self.model.predict_proba(inputs), dtype=np.float64) if inputs else None
            start = 0
            for i, (kind, items) in asks.items():
                if kind == "predict":
                    answers[i], start = probs[start:start + len(items)], start + len(items)
                else:
                    answers[i] = None
            asks = {}
        return results

    def _embedders(self) -> list[SentenceEmbedder]:
        """The sentence embedders of the similarity constraints (computed into ahead of them)."""
        return [c.embedder for c in self.constraints if isinstance(c, EmbeddingSimilarity)]

    def prepare(self, texts: Sequence[str]) -> None:
        """Tag all texts in one batch (the synonym lookups then hit the cache)."""
        self.synonyms.swaps_many(texts)


class _Search:
    """The state of one greedy search: queries spent, swaps kept, proposals found."""

    def __init__(self, owner: AdversarialPerturber, text: str, input_id: str, seed: int) -> None:
        self.owner, self.text, self.input_id, self.seed = owner, text, input_id, seed
        self.queries = 0
        self.found: dict[str, Perturbation] = {}

    def _predict(self, texts: list[str]) -> _Ask:
        build = self.owner.to_model_input
        self.queries += len(texts)
        return "predict", [build(self.input_id, t) if build else t for t in texts]

    def _divergence(self, p0: np.ndarray, probs: np.ndarray) -> np.ndarray:
        return np.asarray(divergence(np.broadcast_to(p0, probs.shape), probs, self.owner.divergence))

    def sites(self) -> dict[Span, list[str]]:
        doc = Doc(self.text, tuple(self.owner.protect(self.text)) if self.owner.protect else ())
        rng = input_rng(self.seed, self.input_id)
        out: dict[Span, list[str]] = {}
        for swap in self.owner.synonyms.swaps(self.text):
            if doc.free(swap.start, swap.end):
                out[(swap.start, swap.end)] = list(swap.candidates)
        for site in _TYPO.sites(doc).get(TYPO_OPS[0], []):
            edits = (_TYPO.realise(doc, pick(rng, TYPO_OPS), site, rng) for _ in range(self.owner.typos))
            out.setdefault((site.start, site.end), []).extend(e.after for e in edits if e is not None)
        return {site: list(dict.fromkeys(r)) for site, r in sorted(out.items()) if r}

    def steps(self) -> Generator[_Ask, np.ndarray | None, list[Perturbation]]:
        """The search (module doc) as a generator: it yields what it needs next (model
        probabilities for some inputs, or embeddings to compute ahead), is sent the
        probabilities (or None), and returns its proposals."""
        sites = self.sites()
        if not sites:
            return []
        p0 = (yield self._predict([self.text]))[0]
        order = list(sites)
        if 2 * len(order) <= self.owner.budget - self.queries:  # else too few queries: keep text order
            deleted = [_apply(self.text, {s: ""}) for s in order]
            importance = self._divergence(p0, (yield self._predict(deleted)))
            order = [order[i] for i in np.argsort(-importance, kind="stable")]
        kept: dict[Span, str] = {}
        current = 0.0
        for site in order:
            left = self.owner.budget - self.queries
            if left <= 0 or len(kept) == self.owner.max_swaps:
                break
            options = [(r, _apply(self.text, {**kept, site: r})) for r in sites[site]]
            if self.owner._embedders():
                yield "embed", [self.text, *(t for _, t in options)]
            records = validate(self.text, [self._record({**kept, site: r}, t) for r, t in options],
                               self.owner.constraints)
            valid = [(options[i][0], rec) for i, rec in enumerate(records) if is_valid(rec)][:left]
            if not valid:
                continue
            scores = self._divergence(p0, (yield self._predict([rec.text for _, rec in valid])))
            for (_, rec), d in zip(valid, scores, strict=True):
                self.found.setdefault(rec.text, rec)
                self.found[rec.text].params["divergence"] = float(d)
            best = int(np.argmax(scores))
            if scores[best] > current:
                current = float(scores[best])
                kept[site] = valid[best][0]
        for rec in self.found.values():
            rec.params["queries"] = self.queries
        return sorted(self.found.values(), key=lambda r: -r.params["divergence"])

    def _record(self, swaps: dict[Span, str], text: str) -> Perturbation:
        edits: list[dict[str, Any]] = [{"op": "swap", "start": s, "before": self.text[s:e], "after": r}
                                       for (s, e), r in sorted(swaps.items())]
        return Perturbation(text, "adversarial_swap", FAMILY, {"edits": edits}, self.seed)


def _apply(text: str, swaps: dict[Span, str]) -> str:
    """``text`` with each site replaced (a deletion also takes one following space)."""
    for (start, end), after in sorted(swaps.items(), reverse=True):
        if not after and text[end:end + 1] == " ":
            end += 1
        text = text[:start] + after + text[end:]
    return text
