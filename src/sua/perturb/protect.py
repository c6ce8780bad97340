"""Protected spans: parts of a text that no perturbation may edit (numbers, negations, an answer).

A *protector* maps a text to a list of half-open character spans ``(start, end)``. Token edits
skip every word that overlaps a protected span, so the span's characters come through
byte-identical.

>>> protect_negations("The man is not sleeping and doesn't snore.")
[(11, 14), (28, 35)]
>>> combine_protectors(protect_numbers, protect_negations)("No, 3 cats.")
[(0, 2), (4, 5)]
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sua.errors import SUAInputError

#: A half-open character span ``(start, end)`` of a text.
Span = tuple[int, int]
#: A function that lists the spans of a text that must not be edited.
Protector = Callable[[str], list[Span]]

#: Whole words that negate (matched case-insensitively). Apostrophe-less contractions are
#: included where they are not ordinary words ("cant" and "wont" are words, so they are not).
NEGATION_WORDS = frozenset({
    "no", "not", "never", "none", "nobody", "nothing", "nowhere", "neither", "nor", "without",
    "cannot", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "hasnt", "havent",
    "hadnt", "couldnt", "wouldnt", "shouldnt", "mustnt", "neednt", "aint",
})

_NEGATION = re.compile(
    r"\b(?:" + "|".join(sorted(NEGATION_WORDS, key=len, reverse=True)) + r")\b"
    r"|\b\w*n['’]t\b",  # don't, can't, won't, and tokenised "does n't"
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")


def protect_numbers(text: str) -> list[Span]:
    """Spans of digit runs, with inner separators: ``3``, ``3.5``, ``1,000``, ``10:30``, ``1/2``.

    Number words ("two") are not covered, so casing may still change "Two" to "two".
    """
    return [m.span() for m in _NUMBER.finditer(text)]


def protect_negations(text: str) -> list[Span]:
    """Spans of negations: the words in :data:`NEGATION_WORDS` and every ``n't`` contraction
    (``don't``, ``can't``, tokenised ``n't``), case-insensitively."""
    return [m.span() for m in _NEGATION.finditer(text)]


def combine_protectors(*protectors: Protector) -> Protector:
    """One protector that returns the sorted union of the spans of ``protectors``.

    The result is named after its parts, so a perturber's ``repr`` (written to run configs)
    stays stable across processes.
    """

    def combined(text: str) -> list[Span]:
        return sorted(span for protector in protectors for span in protector(text))

    names = ", ".join(getattr(p, "__qualname__", repr(p)) for p in protectors)
    combined.__qualname__ = combined.__name__ = f"combine_protectors({names})"
    return combined


def overlaps(spans: tuple[Span, ...], start: int, end: int) -> bool:
    """Whether ``[start, end)`` touches the inside of any span; an insertion at ``start == end``
    counts when it falls strictly inside one."""
    return any(s < end and start < e for s, e in spans)


#: Protector name -> protector, for command lines (``"numbers,negations"``).
PROTECTORS: dict[str, Protector] = {"numbers": protect_numbers, "negations": protect_negations}


def protector_from_names(names: str) -> Protector:
    """The protector for comma-separated :data:`PROTECTORS` names, e.g. ``"numbers,negations"``."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in PROTECTORS]
    if not chosen or unknown:
        raise SUAInputError(f"unknown protector(s) {unknown or names!r}; known: {sorted(PROTECTORS)}")
    if len(chosen) == 1:
        return PROTECTORS[chosen[0]]
    return combine_protectors(*(PROTECTORS[n] for n in chosen))
