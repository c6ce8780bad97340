"""Meaning clusters of generated answers, and the distribution over them.

Two answers are in the same cluster when they mean the same thing:

- :class:`ExactMatchClusterer` (default): equal after SQuAD-style normalisation
  (:func:`normalize_answer`: lower case, no punctuation, no articles a/an/the, single spaces).
- :class:`EntailmentClusterer`: bidirectional entailment under an NLI model the user supplies
  (any :class:`~sua.models.base.PredictiveModel` on ``(premise, hypothesis)`` pairs with an
  entailment label), as in semantic entropy: a new answer joins the first cluster whose first
  answer entails it and is entailed by it.

:func:`cluster_distribution` clusters the answers of several groups together (an input x and
its K rewrites), so all groups share one label space — the union of their clusters — and
``p(c | group) = (answers of the group in c) / (answers of the group)``. Then
``S(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k))`` is a divergence between cluster distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from sua.errors import SUAInputError
from sua.measures.answers import exact_match as squad_exact_match
from sua.measures.answers import f1_score, normalize_answer
from sua.models.base import PredictiveModel

#: SQuAD v1.1 token F1, best over the gold answers (:func:`sua.measures.f1_score`).
token_f1 = f1_score


def exact_match(prediction: str, golds: Sequence[str]) -> bool:
    """Whether the normalised prediction equals any normalised gold answer
    (:func:`sua.measures.exact_match` as a bool)."""
    return bool(squad_exact_match(prediction, golds))


@runtime_checkable
class Clusterer(Protocol):
    """``cluster(answers)`` -> a cluster id per answer, ids ``0..C-1`` in order of first appearance."""

    name: str

    def cluster(self, answers: Sequence[str]) -> list[int]: ...


def _first_seen_ids(keys: Sequence[object]) -> list[int]:
    index: dict[object, int] = {}
    return [index.setdefault(k, len(index)) for k in keys]


class ExactMatchClusterer:
    """Answers are one cluster when :func:`normalize_answer` makes them equal.

    >>> ExactMatchClusterer().cluster(["Paris", "paris.", "Lyon", "the Paris"])
    [0, 0, 1, 0]
    """

    name = "exact"

    def __repr__(self) -> str:
        return "ExactMatchClusterer()"

    def cluster(self, answers: Sequence[str]) -> list[int]:
        return _first_seen_ids([normalize_answer(a) for a in answers])


class EntailmentClusterer:
    """Bidirectional entailment (module doc): answers a and b are one cluster when
    ``p(label | a, b) >= threshold`` and ``p(label | b, a) >= threshold``.

    Answers equal after normalisation are merged first, without the model; the distinct ones are
    compared pairwise in a single ``predict_proba`` call, then assigned greedily in order.
    """

    name = "entailment"

    def __init__(self, nli: PredictiveModel, *, label: str = "entailment", threshold: float = 0.5) -> None:
        if label not in nli.labels:
            raise SUAInputError(f"the NLI model has no {label!r} label (labels: {nli.labels}); pass label=")
        if not 0 < threshold <= 1:
            raise SUAInputError(f"threshold must be in (0, 1], got {threshold!r}")
        self.nli = nli
        self.column = nli.labels.index(label)
        self.threshold = threshold

    def __repr__(self) -> str:
        return f"EntailmentClusterer({self.nli!r}, threshold={self.threshold})"

    def cluster(self, answers: Sequence[str]) -> list[int]:
        exact = ExactMatchClusterer().cluster(answers)
        firsts: dict[int, str] = {}
        for a, e in zip(answers, exact, strict=True):
            firsts.setdefault(e, a)
        texts = [firsts[e] for e in range(len(firsts))]
        n = len(texts)
        pairs = [(texts[i], texts[j]) for i in range(n) for j in range(n) if i != j]
        entails = np.eye(n, dtype=bool)
        if pairs:
            p = np.asarray(self.nli.predict_proba(pairs))[:, self.column] >= self.threshold
            entails[~np.eye(n, dtype=bool)] = p
        mutual = entails & entails.T
        heads: list[int] = []
        merged = []
        for i in range(n):
            home = next((h for h in heads if mutual[h, i]), None)
            if home is None:
                heads.append(i)
                home = i
            merged.append(home)
        return _first_seen_ids([merged[e] for e in exact])


@dataclass(frozen=True)
class ClusterDistribution:
    """Clusters shared by G groups of answers.

    ``labels[c]``: the first answer seen in cluster c; ``probs`` (G, C): the share of each
    group's answers in each cluster; ``assignments[g]``: the cluster of each answer of group g.
    """

    labels: list[str]
    probs: np.ndarray
    assignments: list[list[int]]


def cluster_distribution(groups: Sequence[Sequence[str]], clusterer: Clusterer) -> ClusterDistribution:
    """Cluster all answers of all groups together; each group's distribution over the union (module doc).

    >>> d = cluster_distribution([["Paris", "paris.", "Lyon"], ["Lyon"]], ExactMatchClusterer())
    >>> d.labels, d.probs.round(3).tolist()
    (['Paris', 'Lyon'], [[0.667, 0.333], [0.0, 1.0]])
    """
    if not groups or any(len(g) == 0 for g in groups):
        raise SUAInputError("every group needs at least one answer to form a distribution")
    flat = [a for g in groups for a in g]
    ids = clusterer.cluster(flat)
    if len(ids) != len(flat) or sorted(set(ids)) != list(range(len(set(ids)))):
        raise SUAInputError(f"{clusterer!r} must return one id per answer, ids 0..C-1; got {ids}")
    labels: dict[int, str] = {}
    for a, c in zip(flat, ids, strict=True):
        labels.setdefault(c, a)
    probs = np.zeros((len(groups), len(labels)))
    assignments, start = [], 0
    for g, group in enumerate(groups):
        mine = ids[start:start + len(group)]
        start += len(group)
        assignments.append(mine)
        np.add.at(probs[g], mine, 1.0 / len(group))
    return ClusterDistribution([labels[c] for c in range(len(labels))], probs, assignments)
