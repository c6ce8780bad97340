"""The token-level edit kinds: where each can edit a text (sites) and how (one edit per site).

A kind lists, per operation, the *sites* it may edit — spans of the source text clear of
protected spans — and turns a drawn site into an :class:`Edit`. Sites and edits are always
in source coordinates, so several edits of one draw are applied together and every edit is
recorded as ``{"op", "start", "before", "after", ...}`` that replays on the source
(except ``lower``, recorded as ``{"op": "lower"}`` = ``text.lower()``).

Built in: ``typo``, ``casing``, ``punctuation``, ``whitespace`` and ``synonym`` (WordNet,
:mod:`sua.perturb.synonyms`; needs ``sua[perturb]``). Adding one is one class with ``name``,
``sites`` and ``realise`` plus one :data:`KINDS` entry. No kind touches a digit or creates or
removes a negation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from sua.perturb._sampling import pick
from sua.perturb.protect import NEGATION_WORDS, Span, overlaps
from sua.perturb.synonyms import SynonymSource, default_synonyms
from sua.perturb.typos import TYPO_OPS, typo


class Doc(NamedTuple):
    """The source text and its protected spans."""

    text: str
    protected: tuple[Span, ...]

    def free(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` may be edited (it overlaps no protected span)."""
        return not overlaps(self.protected, start, end)


class Site(NamedTuple):
    """A span of the source an operation may edit; ``index`` is the word number (casing)."""

    start: int
    end: int
    index: int = -1


class Edit(NamedTuple):
    """Replace ``text[start:end]`` by ``after``; ``params`` is the edit's record."""

    start: int
    end: int
    after: str
    params: dict[str, Any]


class Kind(Protocol):
    """One kind of token edit."""

    name: str

    def sites(self, doc: Doc) -> dict[str, list[Site]]:
        """Operation -> the sites it can change; operations with no site are left out."""
        ...

    def realise(self, doc: Doc, op: str, site: Site, rng: np.random.Generator) -> Edit | None:
        """The edit ``op`` makes at ``site``, or ``None`` if it cannot make a valid one."""
        ...


def _edit(doc: Doc, op: str, site: Site, after: str, **extra: Any) -> Edit:
    before = doc.text[site.start:site.end]
    return Edit(site.start, site.end, after, {"op": op, "start": site.start, "before": before,
                                              "after": after, **extra})


# an alphabetic ASCII word of >= 4 letters, not part of a contraction, a number or an identifier
_TYPO_WORD = re.compile(r"(?<![\w'’])[A-Za-z]{4,}(?![\w'’])")
# a word starting with a letter (its apostrophe part included: "don't" is one word)
_WORD = re.compile(r"(?<![\w'’])[^\W\d_][\w'’]*")
_ALNUM = re.compile(r"[^\W_]")
# a comma followed by a space or the end (never "1,000" or "red,green"), with a space before it
_COMMA = re.compile(r" ?,(?=\s|$)")
_SINGLE_SPACE = re.compile(r"(?<=\S) (?=\S)")
_SPACE_RUN = re.compile(r"  +")


class Typo:
    """Keyboard typos (:mod:`sua.perturb.typos`) in words of >= 4 ASCII letters, never in a
    negation word and never producing one ("note" -> "not" is refused)."""

    name = "typo"

    def sites(self, doc: Doc) -> dict[str, list[Site]]:
        words = [Site(*m.span()) for m in _TYPO_WORD.finditer(doc.text)
                 if m.group().lower() not in NEGATION_WORDS and doc.free(*m.span())]
        return dict.fromkeys(TYPO_OPS, words) if words else {}

    def realise(self, doc: Doc, op: str, site: Site, rng: np.random.Generator) -> Edit | None:
        made = typo(doc.text[site.start:site.end], op, rng)
        if made is None or made[1].lower() in NEGATION_WORDS:
            return None
        return _edit(doc, op, site, made[1], pos=made[0])


def _keep_free(doc: Doc, ops: dict[str, list[Site]]) -> dict[str, list[Site]]:
    """``ops`` without protected sites and without operations left with none."""
    return {op: kept for op, sites in ops.items()
            if (kept := [s for s in sites if doc.free(s.start, s.end)])}


def _toggles(char: str) -> bool:
    swapped = char.swapcase()
    return swapped != char and len(swapped) == 1


class Casing:
    """``lower`` (the whole text, only if no protected character changes), ``toggle_first``
    (the case of the text's first word's first letter) or ``toggle_word`` (of another word)."""

    name = "casing"

    def sites(self, doc: Doc) -> dict[str, list[Site]]:
        text = doc.text
        ops: dict[str, list[Site]] = {}
        lowered = text.lower()
        if (lowered != text and len(lowered) == len(text)
                and all(lowered[s:e] == text[s:e] for s, e in doc.protected)):
            ops["lower"] = [Site(0, len(text))]
        words = [Site(*m.span(), i) for i, m in enumerate(_WORD.finditer(text))
                 if _toggles(text[m.start()]) and doc.free(*m.span())]
        if words and words[0].index == 0:
            ops["toggle_first"], words = words[:1], words[1:]
        if words:
            ops["toggle_word"] = words
        return ops

    def realise(self, doc: Doc, op: str, site: Site, rng: np.random.Generator) -> Edit | None:
        if op == "lower":
            return Edit(site.start, site.end, doc.text.lower(), {"op": op})
        word = doc.text[site.start:site.end]
        return _edit(doc, op, site, word[0].swapcase() + word[1:], word=site.index)


def _ends_abbreviation(text: str, end: int) -> bool:
    # "U.S." or "3.5.": a dot inside the last token, so its final dot is not only a full stop
    return "." in text[text.rfind(" ", 0, end) + 1:end - 1]


_PUNCTUATION_AFTER = {
    "add_period": lambda before: ".",
    "remove_period": lambda before: "",
    "remove_comma": lambda before: "",
    "attach_final": lambda before: before.lstrip(" "),
    "detach_final": lambda before: " " + before,
}


class Punctuation:
    """Add or remove a final period, remove a comma that precedes a space, or attach/detach
    the space before the final ``.!?`` (``"packages ."`` <-> ``"packages."``). Letters and
    digits never change."""

    name = "punctuation"

    def sites(self, doc: Doc) -> dict[str, list[Site]]:
        text = doc.text
        if not _ALNUM.search(text):
            return {}
        end = len(text.rstrip())
        last, prev = text[end - 1], text[end - 2:end - 1]
        ops = {
            "add_period": [Site(end, end)] if last.isalnum() else [],
            "remove_period": [Site(end - 2 if prev == " " else end - 1, end)]
            if last == "." and prev != "." and not _ends_abbreviation(text, end) else [],
            "remove_comma": [Site(*m.span()) for m in _COMMA.finditer(text)],
            "attach_final": [Site(end - 2, end)]
            if last in ".!?" and prev == " " and end >= 3 and text[end - 3].isalnum() else [],
            "detach_final": [Site(end - 1, end)]
            if last in ".!?" and prev.isalnum() and not _ends_abbreviation(text, end) else [],
        }
        return _keep_free(doc, ops)

    def realise(self, doc: Doc, op: str, site: Site, rng: np.random.Generator) -> Edit | None:
        return _edit(doc, op, site, _PUNCTUATION_AFTER[op](doc.text[site.start:site.end]))


class Whitespace:
    """``double_space`` (a single space between two words becomes two) or ``strip_double`` (a
    run of spaces becomes one)."""

    name = "whitespace"

    def sites(self, doc: Doc) -> dict[str, list[Site]]:
        ops = {
            "double_space": [Site(*m.span()) for m in _SINGLE_SPACE.finditer(doc.text)],
            "strip_double": [Site(*m.span()) for m in _SPACE_RUN.finditer(doc.text)],
        }
        return _keep_free(doc, ops)

    def realise(self, doc: Doc, op: str, site: Site, rng: np.random.Generator) -> Edit | None:
        return _edit(doc, op, site, "  " if op == "double_space" else " ")


class Synonym:
    """One word becomes a WordNet synonym from ``source`` (default: the shared default
    :class:`SynonymSource`), case kept; the record adds the word's ``tag`` and ``lemma``."""

    name = "synonym"

    def __init__(self, source: SynonymSource | None = None) -> None:
        self.source = source or default_synonyms()

    def prepare(self, texts: Sequence[str]) -> None:
        """Tag ``texts`` in one batch (later ``sites`` calls hit the cache)."""
        self.source.swaps_many(texts)

    def sites(self, doc: Doc) -> dict[str, list[Site]]:
        words = [Site(s.start, s.end, i) for i, s in enumerate(self.source.swaps(doc.text))
                 if doc.free(s.start, s.end)]
        return {"synonym": words} if words else {}

    def realise(self, doc: Doc, op: str, site: Site, rng: np.random.Generator) -> Edit | None:
        swap = self.source.swaps(doc.text)[site.index]
        return _edit(doc, op, site, pick(rng, swap.candidates), tag=swap.tag, lemma=swap.lemma)


#: Kind name -> kind. ``TokenPerturber(kinds=...)`` takes these names.
KINDS: dict[str, Kind] = {k.name: k for k in (Typo(), Casing(), Punctuation(), Whitespace(), Synonym())}
