"""How many tokens a training input keeps when ``max_length`` is not given."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sua.errors import SUAInputError

#: Share of the training inputs that keep all their tokens under the derived ``max_length``.
LENGTH_QUANTILE = 0.99
#: The derived ``max_length`` is a multiple of this (friendly to vectorised kernels).
LENGTH_MULTIPLE = 8
#: Extractive QA's ``max_length`` (question + context window) when not given: the window is a
#: modelling choice, not a property of the data's length distribution.
QA_MAX_LENGTH = 128


def derive_max_length(lengths: Sequence[int], cap: int) -> int:
    """``min(cap, m · ceil(q₀.₉₉(lengths) / m))`` with ``m`` = :data:`LENGTH_MULTIPLE`: the 99th
    percentile (numpy's linear interpolation) of the untruncated token lengths rounded up to a
    multiple of 8, at least 8 and at most ``cap`` (the model's limit).

    >>> derive_max_length([10] * 99 + [500], cap=512)
    16
    """
    if len(lengths) == 0:
        raise SUAInputError("cannot derive max_length from no training inputs; pass max_length")
    q = float(np.quantile(np.asarray(lengths, dtype=float), LENGTH_QUANTILE))
    rounded = max(LENGTH_MULTIPLE, LENGTH_MULTIPLE * math.ceil(q / LENGTH_MULTIPLE))
    return int(min(cap, rounded))
