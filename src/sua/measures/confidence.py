"""Confidence read off a predictive distribution (Section 2.3)."""

from __future__ import annotations

import math

from sua.measures._tensor import ArrayLike, probabilities, restore
from sua.measures.entropy import entropy_t


def normalised_confidence(p: ArrayLike) -> ArrayLike:
    """Entropy-based confidence ``conf(x) = 1 - H(p) / log C`` in ``[0, 1]``, C classes.

    1 for a one-hot distribution, 0 for the uniform one.

    >>> import numpy as np
    >>> normalised_confidence(np.array([[1.0, 0.0], [0.5, 0.5]]))
    array([1., 0.])
    """
    (t,), torch_out = probabilities({"p": p})
    return restore(1.0 - entropy_t(t) / math.log(t.shape[-1]), torch_out)


def max_probability(p: ArrayLike) -> ArrayLike:
    """The usual confidence ``max_y p(y|x)`` over the last axis.

    >>> import numpy as np
    >>> max_probability(np.array([[0.2, 0.8], [0.5, 0.5]]))
    array([0.8, 0.5])
    """
    (t,), torch_out = probabilities({"p": p})
    return restore(t.amax(dim=-1), torch_out)
