"""Keyboard typos inside one word: substitute, delete, insert or transpose, never the first letter.

Neighbours come from the QWERTY letter block, rows staggered by half a key (``a`` touches
``q w s z``). Each operation is one edit in the optimal-string-alignment (restricted
Damerau-Levenshtein) distance, a transposition of two different adjacent letters included.

>>> KEYBOARD_NEIGHBOURS["g"]
'tyfhvb'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sua.perturb._sampling import pick

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    # key -> (row, x), each row shifted right by half a key
    where = {key: (r, c + r / 2) for r, keys in enumerate(_ROWS) for c, key in enumerate(keys)}
    return {a: "".join(b for b, (rb, xb) in where.items()
                       if b != a and abs(ra - rb) <= 1 and abs(xa - xb) <= 1)
            for a, (ra, xa) in where.items()}


#: Lowercase letter -> the letters on the keys around it.
KEYBOARD_NEIGHBOURS: dict[str, str] = _keyboard_neighbours()


def _substitute(word: str, rng: np.random.Generator) -> tuple[int, str] | None:
    i = 1 + int(rng.random() * (len(word) - 1))
    c = pick(rng, KEYBOARD_NEIGHBOURS[word[i].lower()])
    return i, word[:i] + (c.upper() if word[i].isupper() else c) + word[i + 1:]


def _delete(word: str, rng: np.random.Generator) -> tuple[int, str] | None:
    i = 1 + int(rng.random() * (len(word) - 1))
    return i, word[:i] + word[i + 1:]


def _insert(word: str, rng: np.random.Generator) -> tuple[int, str] | None:
    # a neighbour of the letter just typed, struck right after it (slot len(word) = at the end)
    i = 1 + int(rng.random() * len(word))
    c = pick(rng, KEYBOARD_NEIGHBOURS[word[i - 1].lower()])
    upper = word[i - 1].isupper() and (i == len(word) or word[i].isupper())
    return i, word[:i] + (c.upper() if upper else c) + word[i:]


def _transpose(word: str, rng: np.random.Generator) -> tuple[int, str] | None:
    slots = [i for i in range(1, len(word) - 1) if word[i] != word[i + 1]]
    if not slots:
        return None
    i = pick(rng, slots)
    return i, word[:i] + word[i + 1] + word[i] + word[i + 2:]


_OPS: dict[str, Callable[[str, np.random.Generator], tuple[int, str] | None]] = {
    "substitute": _substitute,
    "delete": _delete,
    "insert": _insert,
    "transpose": _transpose,
}
#: The typo operations, in the order they are drawn from.
TYPO_OPS: tuple[str, ...] = tuple(_OPS)


def typo(word: str, op: str, rng: np.random.Generator) -> tuple[int, str] | None:
    """Apply one ``op`` (one of :data:`TYPO_OPS`) to ``word`` at a random position >= 1.

    ``word`` must be ASCII letters, at least 2 long. Returns ``(position, new_word)``, or
    ``None`` when the op cannot change the word (a transposition in ``"Aaaa"``).
    """
    return _OPS[op](word, rng)
