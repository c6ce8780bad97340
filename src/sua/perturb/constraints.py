"""Validity constraints: what a rewrite x' of a source x must satisfy to count as meaning-preserving.

A constraint checks a batch of candidates against their source and says, per candidate,
whether it passed. :func:`validate` runs a list of them and writes the verdicts into each
record (``constraints = {name: passed}``) and the embedding cosine into ``similarity``;
:func:`is_valid` is "passed them all".

Built in:

- :class:`EmbeddingSimilarity` (``similarity``): ``cos(e(x), e(x')) >= min_similarity`` with
  ``e`` the all-MiniLM-L6-v2 sentence embedding (batched, cached per text).
- :class:`BiEntailment` (``nli``): ``p(entailment | x, x') >= t`` and ``p(entailment | x', x) >= t``
  under an NLI model the user supplies (any :class:`~sua.models.PredictiveModel` on text pairs
  with an ``"entailment"`` label).
- :class:`MaxEditDistance` (``edit_distance``): character Levenshtein distance ``lev(x, x')``
  at most ``max_count`` and at most ``max_fraction * len(x)``.
- :class:`MaxModifiedWords` (``modified_words``): words of x changed, deleted or inserted
  (case-insensitive word alignment, punctuation ignored) at most ``max_count`` and at most
  ``max_fraction * words(x)``.
- :class:`KeepsProtected` (``protected``): the protected strings (numbers, negations, an answer)
  of x' are those of x, as a case-insensitive multiset; for rewriters that cannot avoid the
  spans by construction (back-translation).
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from rapidfuzz.distance import Levenshtein

from sua.errors import SUAInputError
from sua.models.backbones import default_backbone_path
from sua.models.base import PredictiveModel
from sua.perturb._memo import BatchMemo
from sua.perturb.base import Perturbation
from sua.perturb.cache import connect_store, store_key
from sua.perturb.protect import Protector


@runtime_checkable
class Constraint(Protocol):
    """``check(source, candidates)`` -> one ``passed`` flag per candidate; ``name`` keys the record."""

    name: str

    def check(self, source: str, candidates: Sequence[str]) -> list[bool]: ...


class SentenceEmbedder:
    """Unit-length sentence embeddings from a sentence-transformers folder (default: the
    bundled all-MiniLM-L6-v2), computed in batches of ``batch_size`` and cached per text.

    ``store``: a folder whose ``embeddings.sqlite`` keeps every embedding computed (float32,
    keyed by the model folder and the text), so that later processes read them back instead of
    recomputing them: another model's run validating the same shared rewrites."""

    def __init__(self, model_path: str | None = None, *, batch_size: int = 64, device: str = "cpu",
                 store: str | os.PathLike[str] | None = None) -> None:
        self.model_path = model_path or default_backbone_path()
        self.batch_size = batch_size
        self.device = device
        self.store = None if store is None else Path(store) / "embeddings.sqlite"
        self._model = None
        self._db: sqlite3.Connection | None = None
        self._memo: BatchMemo[str, np.ndarray] = BatchMemo(
            self._encode if store is None else self._stored, maxsize=50_000)

    def __repr__(self) -> str:
        return f"SentenceEmbedder({self.model_path!r})"

    def __getstate__(self) -> dict:
        """Pickled without its store connection (for worker processes); each copy reconnects."""
        return {**self.__dict__, "_db": None}

    def _stored(self, texts: list[str]) -> list[np.ndarray]:
        """:meth:`_encode` through the ``store``: only the texts it lacks are computed (and added)."""
        if self._db is None:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            self._db = connect_store(self.store)
            with self._db:
                self._db.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB)")
        keys = [store_key(f"{self.model_path}\n{t}") for t in texts]
        found = {}
        for start in range(0, len(keys), 500):  # SQLite's bound on the variables of one query
            part = keys[start:start + 500]
            found.update(self._db.execute(f"SELECT key, vector FROM embeddings WHERE key IN "
                                          f"({','.join('?' * len(part))})", part).fetchall())
        missing = [i for i, key in enumerate(keys) if key not in found]
        computed = self._encode([texts[i] for i in missing]) if missing else []
        rows = [(keys[i], np.asarray(vector, np.float32).tobytes())
                for i, vector in zip(missing, computed, strict=True)]
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?)", rows)
        found.update(rows)
        return [np.frombuffer(found[key], np.float32) for key in keys]

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_path, device=self.device)
        return list(self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(N, d)`` unit vectors, in the order of ``texts``."""
        return np.stack(self._memo(list(texts))) if texts else np.empty((0, 0), np.float32)

    def cosine(self, source: str, candidates: Sequence[str]) -> np.ndarray:
        """``cos(e(source), e(c))`` for each candidate, as float64."""
        if not candidates:
            return np.empty(0)
        vectors = self.encode([source, *candidates]).astype(np.float64)
        return np.clip(vectors[1:] @ vectors[0], -1.0, 1.0)


@functools.cache
def default_embedder(store: Path | None = None) -> SentenceEmbedder:
    """One shared MiniLM embedder per process and ``store`` (so every constraint reuses its cache)."""
    return SentenceEmbedder(store=store)


def _fraction(value: float | None, name: str) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise SUAInputError(f"{name} is a fraction in [0, 1], got {value!r}")
    return value


class EmbeddingSimilarity:
    """Passes when ``cos(e(x), e(x')) >= min_similarity`` (sentence embeddings, module doc)."""

    name = "similarity"

    def __init__(self, min_similarity: float = 0.8, embedder: SentenceEmbedder | None = None) -> None:
        if not -1 <= min_similarity <= 1:
            raise SUAInputError(f"min_similarity is a cosine in [-1, 1], got {min_similarity!r}")
        self.min_similarity = float(min_similarity)
        self._embedder = embedder

    def __repr__(self) -> str:
        return f"EmbeddingSimilarity(min_similarity={self.min_similarity})"

    @property
    def embedder(self) -> SentenceEmbedder:
        return self._embedder or default_embedder()

    def similarities(self, source: str, candidates: Sequence[str]) -> np.ndarray:
        return self.embedder.cosine(source, candidates)

    def check(self, source: str, candidates: Sequence[str]) -> list[bool]:
        return [bool(s >= self.min_similarity) for s in self.similarities(source, candidates)]


class BiEntailment:
    """Passes when an NLI model says x entails x' and x' entails x, each with probability
    ``>= min_probability`` of ``label``. ``model`` takes ``(premise, hypothesis)`` pairs."""

    name = "nli"

    def __init__(self, model: PredictiveModel, *, label: str = "entailment",
                 min_probability: float = 0.5) -> None:
        if label not in model.labels:
            raise SUAInputError(f"the NLI model has no {label!r} label (labels: {model.labels}); "
                                f"pass label= with its entailment label")
        self.model = model
        self.column = model.labels.index(label)
        self.min_probability = _fraction(min_probability, "min_probability")

    def __repr__(self) -> str:
        return f"BiEntailment({self.model!r}, min_probability={self.min_probability})"

    def check(self, source: str, candidates: Sequence[str]) -> list[bool]:
        if not candidates:
            return []
        pairs = [(source, c) for c in candidates] + [(c, source) for c in candidates]
        entail = self.model.predict_proba(pairs)[:, self.column].reshape(2, -1)
        return [bool(v) for v in (entail.min(axis=0) >= self.min_probability)]


def levenshtein(a: str, b: str) -> int:
    """Character edit distance ``lev(a, b)``: the fewest single-character insertions, deletions
    and substitutions turning ``a`` into ``b`` (rapidfuzz's C implementation)."""
    return int(Levenshtein.distance(a, b))


_WORDS = re.compile(r"\w+(?:['’]\w+)*")


def words(text: str) -> list[str]:
    """The case-folded words of ``text`` (punctuation and spacing dropped; "don't" is one word)."""
    return _WORDS.findall(text.casefold())


def modified_words(source: str, candidate: str) -> int:
    """Words changed, deleted or inserted between the :func:`words` of the two texts:
    ``sum(max(len(a), len(b)))`` over the non-equal aligned blocks."""
    a, b = words(source), words(candidate)
    ops = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in ops if op != "equal")


def word_count(text: str) -> int:
    """Number of :func:`words` in ``text``."""
    return len(words(text))


class _Cap:
    """Passes when ``count(x, x') <= max_count`` and ``<= max_fraction * size(x)``."""

    name = ""
    count: Callable[[str, str], int]
    size: Callable[[str], int]

    def __init__(self, max_count: int | None = None, *, max_fraction: float | None = None) -> None:
        if max_count is None and max_fraction is None:
            raise SUAInputError(f"{type(self).__name__} needs a cap: give the count or max_fraction")
        if max_count is not None and (not isinstance(max_count, int) or max_count < 0):
            raise SUAInputError(f"the cap must be an integer >= 0, got {max_count!r}")
        self.max_count = max_count
        self.max_fraction = _fraction(max_fraction, "max_fraction")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.max_count}, max_fraction={self.max_fraction})"

    def check(self, source: str, candidates: Sequence[str]) -> list[bool]:
        limit = min(self.max_count if self.max_count is not None else float("inf"),
                    self.max_fraction * self.size(source) if self.max_fraction is not None else float("inf"))
        return [self.count(source, c) <= limit for c in candidates]


class MaxEditDistance(_Cap):
    """Passes when ``lev(x, x') <= max_count`` characters and ``<= max_fraction * len(x)``."""

    name = "edit_distance"
    count = staticmethod(levenshtein)
    size = staticmethod(len)


class MaxModifiedWords(_Cap):
    """Passes when :func:`modified_words` ``<= max_count`` and ``<= max_fraction * words(x)``."""

    name = "modified_words"
    count = staticmethod(modified_words)
    size = staticmethod(word_count)


class KeepsProtected:
    """Passes when ``protect`` finds the same strings (case-insensitive multiset) in x' as in x."""

    name = "protected"

    def __init__(self, protect: Protector) -> None:
        self.protect = protect

    def __repr__(self) -> str:
        return f"KeepsProtected({getattr(self.protect, '__qualname__', self.protect)})"

    def _strings(self, text: str) -> Counter[str]:
        return Counter(text[s:e].casefold() for s, e in self.protect(text))

    def check(self, source: str, candidates: Sequence[str]) -> list[bool]:
        kept = self._strings(source)
        return [self._strings(c) == kept for c in candidates]


def default_constraints(protect: Protector | None = None, *,
                        embedder: SentenceEmbedder | None = None) -> list[Constraint]:
    """MiniLM cosine >= 0.8 (``embedder``: default :func:`default_embedder`), at most half the
    words modified, and the protected strings kept."""
    found: list[Constraint] = [EmbeddingSimilarity(0.8, embedder), MaxModifiedWords(max_fraction=0.5)]
    return found + ([KeepsProtected(protect)] if protect is not None else [])


def validate(source: str, records: Sequence[Perturbation],
             constraints: Sequence[Constraint]) -> list[Perturbation]:
    """``records`` with each constraint's verdict added to ``constraints`` and, when an
    :class:`EmbeddingSimilarity` is among them, the cosine in ``similarity``."""
    texts = [r.text for r in records]
    verdicts = {c.name: c.check(source, texts) for c in constraints}
    similarity = next((c.similarities(source, texts) for c in constraints
                       if isinstance(c, EmbeddingSimilarity)), None)
    return [replace(r, similarity=r.similarity if similarity is None else float(similarity[i]),
                    constraints={**r.constraints, **{n: v[i] for n, v in verdicts.items()}})
            for i, r in enumerate(records)]


def is_valid(record: Perturbation) -> bool:
    """Whether a validated record passed every constraint it was checked against."""
    return all(record.constraints.values())
