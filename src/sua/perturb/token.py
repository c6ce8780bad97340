"""TokenPerturber: cheap surface edits (typos, casing, punctuation, whitespace) as Q_x.

Each of the K draws picks a kind with probability proportional to its weight among the
kinds that can change the text, then makes ``1..max_edits`` edits of that kind on disjoint
sites (the number drawn uniformly): per edit an operation uniformly among those with a site
left, then a site uniformly, then (typos) a position and a key. Typos hit different words,
so a typo draw is within optimal-string-alignment distance ``max_edits`` of the source.

>>> p = TokenPerturber(kinds=("typo", "casing"), weights=(3, 1))
>>> [d.text for d in p.perturb("Two women are embracing .", 3, input_id="ex-1", seed=0)]
['Two women are embracnig .', 'Two womeh are embracing .', 'Two womenh are embracing .']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate
from numbers import Real
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.perturb._sampling import pick, pick_weighted
from sua.perturb.base import Perturbation, check_request, identity, input_rng, is_int
from sua.perturb.kinds import KINDS, Doc, Edit, Kind, Site
from sua.perturb.protect import Protector

FAMILY = "token"
DEFAULT_KINDS = ("typo", "casing", "punctuation")


_NO_EDIT = "no applicable edit"


class TokenPerturber:
    """Draws K token-level rewrites of a text; satisfies :class:`~sua.perturb.base.Perturber`.

    ``kinds``: names from :data:`sua.perturb.kinds.KINDS` (``typo``, ``casing``,
    ``punctuation``, ``whitespace``). ``weights``: one non-negative weight per kind (default
    uniform); a kind is drawn with probability ``w / sum(w over kinds that can change the
    text)``. A weight-0 kind is used only as a fallback when no positive-weight kind can
    change the text. ``max_edits``: edits per draw are uniform on ``1..max_edits`` (fewer if
    the text has fewer disjoint sites). ``protect``: ``text -> [(start, end), ...]`` spans no
    edit may touch (see :mod:`sua.perturb.protect`).

    Records: ``kind`` is the kind used, ``params = {"edits": [...]}`` with one
    ``{"op", "start", "before", "after", ...}`` per edit in source coordinates
    (``{"op": "lower"}`` for whole-text lowercasing), plus ``"fallback": True`` when the drawn
    kind could not make an edit and the next one was used. A text no kind can change comes
    back unchanged with ``kind="identity"``, so exactly ``k`` records always return.

    Determinism: draw ``i`` depends only on (text, input_id, seed, config) and the draws
    before it — never on call order or on ``k`` (the first 3 of ``k=8`` equal ``k=3``).
    """

    family = FAMILY

    def __init__(
        self,
        kinds: Sequence[str] = DEFAULT_KINDS,
        weights: Sequence[float] | None = None,
        max_edits: int = 1,
        protect: Protector | None = None,
    ) -> None:
        if isinstance(kinds, str) or not kinds:
            raise SUAInputError(f"kinds must be a non-empty sequence of kind names such as "
                                f"('typo', 'casing'), got {kinds!r}")
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise SUAInputError(f"unknown perturbation kind(s) {unknown}; known: {sorted(KINDS)}")
        if len(set(kinds)) != len(kinds):
            raise SUAInputError(f"kinds lists a kind twice: {list(kinds)}")
        if weights is None:
            weights = [1.0] * len(kinds)
        if isinstance(weights, str) or len(weights) != len(kinds):
            raise SUAInputError(f"weights must give one number per kind ({len(kinds)} for "
                                f"{list(kinds)}), got {weights!r}")
        valid = all(isinstance(w, Real) and math.isfinite(w) and w >= 0 for w in weights)
        if not valid or not sum(weights) > 0:
            raise SUAInputError(f"weights must be finite, non-negative and sum to more than 0, "
                                f"got {list(weights)}")
        if not is_int(max_edits) or max_edits < 1:
            raise SUAInputError(f"max_edits must be an integer >= 1, got {max_edits!r}")
        if protect is not None and not callable(protect):
            raise SUAInputError(f"protect must be a function text -> [(start, end), ...] or None, "
                                f"got {protect!r}")
        self.kinds: tuple[str, ...] = tuple(kinds)
        self.weights: tuple[float, ...] = tuple(float(w) for w in weights)
        self.max_edits = int(max_edits)
        self.protect = protect

    def __repr__(self) -> str:
        protect = getattr(self.protect, "__qualname__", repr(self.protect))
        return (f"TokenPerturber(kinds={self.kinds!r}, weights={self.weights!r}, "
                f"max_edits={self.max_edits}, protect={protect})")

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]:
        """Exactly ``k`` rewrites of ``text``, reproducible from ``(input_id, seed)``."""
        check_request(text, k, input_id, seed)
        doc = Doc(text, tuple(self.protect(text)) if self.protect is not None else ())
        table = [(KINDS[name], w, ops) for name, w in zip(self.kinds, self.weights, strict=True)
                 if (ops := KINDS[name].sites(doc))]
        if not table:
            return [identity(text, FAMILY, int(seed), _NO_EDIT) for _ in range(k)]
        rng = input_rng(seed, input_id)
        cumulative = list(accumulate(w for _, w, _ in table))
        return [self._draw(doc, table, cumulative, rng, int(seed)) for _ in range(k)]

    def prepare(self, texts: Sequence[str]) -> None:
        """Let kinds that batch (the synonym kind's tagger) precompute for ``texts``."""
        for name in self.kinds:
            prepare = getattr(KINDS[name], "prepare", None)
            if prepare is not None:
                prepare(texts)

    def propose(self, text: str, n: int, *, input_id: str, seed: int) -> list[Perturbation]:
        """The first ``n`` draws of :meth:`perturb` that change the text (duplicates kept: they
        are independent draws of Q_x)."""
        return [d for d in self.perturb(text, n, input_id=input_id, seed=seed) if d.kind != "identity"]

    def _draw(self, doc: Doc, table: list[tuple[Kind, float, dict[str, list[Site]]]],
              cumulative: list[float], rng: np.random.Generator, seed: int) -> Perturbation:
        drawn = pick_weighted(rng, cumulative) if cumulative[-1] > 0 else 0
        n = 1 if self.max_edits == 1 else 1 + int(rng.random() * self.max_edits)
        # the drawn kind first, then positive-weight kinds, then weight-0 ones, in config order
        for i in sorted(range(len(table)), key=lambda j: (j != drawn, table[j][1] == 0)):
            kind, _, ops = table[i]
            edits = _draw_edits(kind, doc, ops, n, rng)
            if edits:
                params: dict[str, Any] = {"edits": [e.params for e in edits]}
                if i != drawn or cumulative[-1] == 0:
                    params["fallback"] = True
                return Perturbation(_apply(doc.text, edits), kind.name, FAMILY, params, seed)
        return identity(doc.text, FAMILY, seed, _NO_EDIT)


def _draw_edits(kind: Kind, doc: Doc, ops: dict[str, list[Site]], n: int,
                rng: np.random.Generator) -> list[Edit]:
    """Up to ``n`` edits of ``kind`` on pairwise disjoint, non-adjacent sites."""
    edits: list[Edit] = []
    while ops:
        op = pick(rng, list(ops))
        site = pick(rng, ops[op])
        edit = kind.realise(doc, op, site, rng)
        if edit is None:  # this site cannot take this op: drop it and draw again
            rest = [s for s in ops[op] if s is not site]
            ops = {o: (rest if o == op else sites) for o, sites in ops.items() if o != op or rest}
            continue
        edits.append(edit)
        if len(edits) == n:
            break
        ops = {o: kept for o, sites in ops.items()
               if (kept := [s for s in sites if s.end < edit.start or edit.end < s.start])}
    return edits


def _apply(text: str, edits: list[Edit]) -> str:
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:edit.start] + edit.after + text[edit.end:]
    return text
