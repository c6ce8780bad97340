"""Any Python function that returns probabilities, as p(y|x)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sua.inputs import ModelInput
from sua.models._checks import check_output, validate_inputs, validate_labels


class CallableModel:
    """Wrap ``fn(list_of_inputs) -> array-like (N, C)`` of probabilities over ``labels``.

    ``fn`` receives a list of texts or of ``(first, second)`` pairs and must return one
    row per input with one column per label, each row a distribution (non-negative,
    summing to 1). Its output is checked on every call; bad output raises
    :class:`~sua.errors.SUAInputError` saying the callable returned it.

    >>> m = CallableModel(lambda xs: [[0.25, 0.75]] * len(xs), labels=["neg", "pos"])
    >>> m.predict_proba(["great film", "dull plot"]).tolist()
    [[0.25, 0.75], [0.25, 0.75]]
    """

    def __init__(self, fn: Callable[[list[ModelInput]], Any], labels: Sequence[str]) -> None:
        self.fn = fn
        self.labels = validate_labels(labels)

    def __repr__(self) -> str:
        return f"CallableModel({getattr(self.fn, '__name__', self.fn)!r}, labels={self.labels})"

    def predict_proba(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        """p(y|x) as returned by ``fn``, checked, as an (N, C) float64 array."""
        items, _ = validate_inputs(inputs)
        if not items:
            return np.empty((0, len(self.labels)), dtype=np.float64)
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return check_output(self.fn(items), len(items), self.labels, f"the callable {name!r}")
