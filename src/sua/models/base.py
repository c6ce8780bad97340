"""The contract every model adapter meets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from sua.inputs import ModelInput


@runtime_checkable
class PredictiveModel(Protocol):
    """Anything that maps inputs to predictive distributions p(y|x) over ``labels``.

    ``predict_proba(inputs)`` returns a float array of shape (N, C), C = len(labels),
    each row non-negative and summing to 1, in the order of ``inputs``.
    """

    labels: list[str]

    def predict_proba(self, inputs: Sequence[ModelInput]) -> np.ndarray: ...
