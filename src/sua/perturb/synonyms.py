"""WordNet synonyms that keep the meaning: POS-restricted, frequent senses, inflected, no antonyms.

For a word ``w`` tagged ``t`` (Penn tag, spaCy) with lemma ``l``, the candidates are

    C(w) = { infl(c, t) : c in lemmas(s), s in senses(l, pos(t))[:max_senses],
             s in senses(c, pos(t))[:max_senses], c single lowercase word, c not l's stem,
             c not in antonyms(l), rank(c) < max_rank, cos(l, c) >= min_similarity }

where ``senses`` are WordNet's senses of ``l`` for the part of speech of ``t`` in WordNet's
frequency order (a sense after the first is kept only if tagged-corpus counts saw ``l`` in it),
the shared sense must be frequent for ``c`` too (so "stage" does not become "level"),
``antonyms(l)`` are the antonyms of every lemma of every sense of ``l`` (so "big" never becomes
"small"), ``rank`` is the word's GloVe frequency rank and ``cos`` the GloVe 50-d cosine;
``infl`` re-inflects ``c`` for ``t`` with lemminflect ("dogs"/NNS -> "hounds", "jumps"/VBZ ->
"leaps"). Candidates are ordered by ``cos``, best first. Proper nouns, auxiliaries, negations,
quantifiers and words capitalised mid-sentence are never swapped.

>>> source = SynonymSource()  # doctest: +SKIP
>>> source.synonyms("big", "JJ")  # doctest: +SKIP
('large',)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from sua.errors import SUAInputError
from sua.perturb._memo import BatchMemo
from sua.perturb.protect import NEGATION_WORDS
from sua.perturb.resources import WordVectors, glove, pos_tagger, wordnet

#: Penn tag -> WordNet part of speech; other tags (proper nouns, function words) are never swapped.
PENN_TO_WORDNET = {
    "NN": "n", "NNS": "n",
    "VB": "v", "VBD": "v", "VBG": "v", "VBN": "v", "VBP": "v", "VBZ": "v",
    "JJ": "a", "JJR": "a", "JJS": "a",
    "RB": "r", "RBR": "r", "RBS": "r",
}
_UPOS = {"n": "NOUN", "v": "VERB", "a": "ADJ", "r": "ADV"}
_BASE_TAGS = frozenset({"NN", "VB", "VBP", "JJ", "RB"})
# lemmas whose swap changes grammar or logic rather than wording
_KEEP = frozenset({
    "be", "have", "do", "get", "go", "make", "let", "say", "can", "will", "would", "should", "must",
    "not", "very", "so", "too", "also", "then", "there", "here", "now", "just", "only", "even", "still",
    "up", "down", "out", "off", "over", "away", "back", "all", "some", "any", "many", "much", "more",
    "most", "less", "least", "few", "several", "other", "another", "same", "such", "own", "well",
    "one", "first", "last", "next", "again", "ever", "always", "often", "sometimes", "almost",
})
_VOWELS = frozenset("aeiou")
_SENTENCE_STARTS = frozenset({".", "!", "?", ":", '"', "``", "''", "'", "(", "-", "--"})


class Swap(NamedTuple):
    """A word of a text that has synonyms: ``text[start:end]`` -> any of ``candidates``."""

    start: int
    end: int
    word: str
    tag: str
    lemma: str
    candidates: tuple[str, ...]


class SynonymSource:
    """Meaning-preserving WordNet synonyms for the words of a text (see the module formula).

    ``max_senses``: how many of WordNet's most frequent senses to draw synonyms from (2).
    ``min_similarity``: GloVe cosine floor between the lemma and the synonym (0.5).
    ``max_rank``: only synonyms among the ``max_rank`` most frequent GloVe words (50,000).
    ``max_candidates``: synonyms kept per word, most similar first (5). ``vectors``: word
    vectors with frequency ranks (default :func:`~sua.perturb.resources.glove`).

    Resources (WordNet, the spaCy tagger, GloVe) load on first use. ``swaps`` tags texts in
    batches and caches the result per text.
    """

    def __init__(
        self,
        *,
        max_senses: int = 2,
        min_similarity: float = 0.5,
        max_rank: int = 50_000,
        max_candidates: int = 5,
        vectors: WordVectors | None = None,
    ) -> None:
        for name, value in (("max_senses", max_senses), ("max_rank", max_rank),
                            ("max_candidates", max_candidates)):
            if not isinstance(value, int) or value < 1:
                raise SUAInputError(f"{name} must be an integer >= 1, got {value!r}")
        if not -1.0 <= min_similarity <= 1.0:
            raise SUAInputError(f"min_similarity is a cosine in [-1, 1], got {min_similarity!r}")
        self.max_senses = max_senses
        self.min_similarity = float(min_similarity)
        self.max_rank = max_rank
        self.max_candidates = max_candidates
        self._vectors = vectors
        self._analysed: BatchMemo[str, tuple[Swap, ...]] = BatchMemo(self._analyse, maxsize=20_000)
        self._by_lemma: dict[tuple[str, str], tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return (f"SynonymSource(max_senses={self.max_senses}, min_similarity={self.min_similarity}, "
                f"max_rank={self.max_rank}, max_candidates={self.max_candidates})")

    @property
    def vectors(self) -> WordVectors:
        if self._vectors is None:
            self._vectors = glove()
        return self._vectors

    def swaps(self, text: str) -> tuple[Swap, ...]:
        """The words of ``text`` that have at least one synonym, in text order."""
        return self.swaps_many([text])[0]

    def swaps_many(self, texts: Sequence[str]) -> list[tuple[Swap, ...]]:
        """:meth:`swaps` for many texts, tagged in one batch (cached per text)."""
        return self._analysed(list(texts))

    def synonyms(self, word: str, tag: str) -> tuple[str, ...]:
        """Inflected synonyms of ``word`` read as Penn tag ``tag`` (empty if none or not swappable)."""
        lemma = self._lemma(word.lower(), tag)
        if lemma is None:
            return ()
        forms = (_inflect(c, tag) for c in self.lemma_synonyms(lemma, PENN_TO_WORDNET[tag]))
        return tuple(dict.fromkeys(f for f in forms if f and f != word.lower()))

    def lemma_synonyms(self, lemma: str, pos: str) -> tuple[str, ...]:
        """Filtered synonym lemmas of ``lemma`` for WordNet part of speech ``pos`` (n, v, a, r)."""
        key = (lemma, pos)
        if key not in self._by_lemma:
            self._by_lemma[key] = self._lemma_synonyms(lemma, pos)
        return self._by_lemma[key]

    def _lemma_synonyms(self, lemma: str, pos: str) -> tuple[str, ...]:
        senses = wordnet().synsets(lemma, pos)
        antonyms = {a.name() for s in senses for lem in s.lemmas() for a in lem.antonyms()}
        kept = [s for i, s in enumerate(senses[:self.max_senses]) if i == 0 or _count(s, lemma) > 0]
        scored = {}
        for sense in kept:
            for name in sense.lemma_names():
                if (name.isalpha() and name.islower() and name not in antonyms
                        and name[:3] != lemma[:3]  # not a spelling variant or derivation
                        and self.vectors.rank(name) < self.max_rank
                        and sense in wordnet().synsets(name, pos)[:self.max_senses]):
                    cos = self.vectors.cosine(lemma, name)
                    if cos >= self.min_similarity:
                        scored[name] = cos
        return tuple(sorted(scored, key=lambda n: -scored[n])[:self.max_candidates])

    def _lemma(self, word: str, tag: str) -> str | None:
        pos = PENN_TO_WORDNET.get(tag)
        if pos is None or not word.isalpha() or len(word) < 3 or word in NEGATION_WORDS:
            return None
        lemma = _lemmatise(word, _UPOS[pos])
        if lemma in _KEEP or not wordnet().synsets(lemma, pos):
            return None
        return lemma

    def _analyse(self, texts: list[str]) -> list[tuple[Swap, ...]]:
        return [self._swaps(doc) for doc in pos_tagger().pipe(texts, batch_size=256)]

    def _swaps(self, doc: Any) -> tuple[Swap, ...]:
        out = []
        for i, token in enumerate(doc):
            word, tag = token.text, token.tag_
            before = doc[i - 1].lower_ if i > 0 else "."
            if tag not in PENN_TO_WORDNET or (word[:1].isupper() and before not in _SENTENCE_STARTS):
                continue  # not a content word, or a name/acronym whatever the tagger says
            candidates = self.synonyms(word, tag)
            if before in ("a", "an"):  # keep the article right: "a large", never "a enormous"
                candidates = tuple(c for c in candidates if (c[0] in _VOWELS) == (before == "an"))
            if candidates:
                out.append(Swap(token.idx, token.idx + len(word), word, tag, self._lemma(word.lower(), tag),
                                tuple(match_case(word, c) for c in candidates)))
        return tuple(out)


@functools.cache
def default_synonyms() -> SynonymSource:
    """The process-wide default :class:`SynonymSource`, shared so its caches are shared."""
    return SynonymSource()


def _count(sense: Any, lemma: str) -> int:
    return sum(lem.count() for lem in sense.lemmas() if lem.name() == lemma)


@functools.lru_cache(maxsize=100_000)
def _lemmatise(word: str, upos: str) -> str:
    from lemminflect import getLemma

    found = getLemma(word, upos)
    return found[0] if found else word


@functools.lru_cache(maxsize=100_000)
def _inflect(lemma: str, tag: str) -> str | None:
    if tag in _BASE_TAGS:
        return lemma
    from lemminflect import getInflection

    forms = getInflection(lemma, tag)
    return forms[0] if forms else None


def match_case(model: str, word: str) -> str:
    """``word`` in the case pattern of ``model``: ``UPPER``, ``Title`` or as given."""
    if len(model) > 1 and model.isupper():
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
