"""Cheap draws from a numpy Generator (one ``random()`` call each, no array overhead)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    """A uniformly drawn element of the non-empty ``items``."""
    return items[int(rng.random() * len(items))]


def pick_weighted(rng: np.random.Generator, cumulative: Sequence[float]) -> int:
    """An index drawn with probability proportional to its weight, given the running sums of
    the weights (the last one positive); zero-weight indices are never drawn."""
    return bisect_right(cumulative, rng.random() * cumulative[-1])
