"""Answer-string metrics of extractive QA: SQuAD v1.1's normalisation, exact match and token F1.

These follow the official SQuAD v1.1 evaluation script (Rajpurkar et al., 2016):

- ``normalize_answer(s)``: lower case, punctuation removed (``string.punctuation``), the
  articles *a*, *an*, *the* removed (as whole words), white space collapsed;
- ``exact_match(pred, golds) = max_g 1[normalize(pred) == normalize(g)]``;
- ``f1_score(pred, golds) = max_g 2·P·R / (P + R)`` with ``P = c/|pred|``, ``R = c/|g|`` and ``c``
  the number of tokens (white-space words of the normalised strings, with multiplicity) the two
  share; 0 when they share none (so an empty prediction scores 0, as in v1.1).

Both take the maximum over the gold answers; with no gold answer they return 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, no punctuation, no articles, single spaces.

    >>> normalize_answer("  The Eiffel-Tower. "), normalize_answer("an Apple, a day")
    ('eiffeltower', 'apple day')
    """
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals some normalised gold answer, else 0.0.

    >>> exact_match("the Denver Broncos!", ["Denver Broncos", "Broncos"])
    1.0
    """
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(pred: list[str], gold: list[str]) -> float:
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD v1.1 token F1, the best over the gold answers.

    >>> round(f1_score("the Denver Broncos team", ["Denver Broncos"]), 3)
    0.8
    """
    pred = normalize_answer(prediction).split()
    return max((_f1(pred, normalize_answer(g).split()) for g in golds), default=0.0)
