"""A model seen through coarser labels: p(g|x) = Σ_{y ∈ g} p(y|x)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.models.base import PredictiveModel


class GroupedLabels:
    """Wrap ``model`` so that its labels are summed into groups, e.g. a 3-way NLI model read as
    2-way (entailment / non-entailment = neutral + contradiction):
    p(g|x) = Σ_{y ∈ groups[g]} p(y|x). Every model label must belong to exactly one group.

    >>> from sua.models import CallableModel
    >>> nli = CallableModel(lambda xs: [[0.5, 0.3, 0.2]] * len(xs),
    ...                     labels=["entailment", "neutral", "contradiction"])
    >>> two_way = GroupedLabels(nli, {"entailment": ["entailment"],
    ...                               "non-entailment": ["neutral", "contradiction"]})
    >>> two_way.labels, two_way.predict_proba([("A man plays.", "Someone plays.")]).tolist()
    (['entailment', 'non-entailment'], [[0.5, 0.5]])
    """

    def __init__(self, model: PredictiveModel, groups: Mapping[str, Sequence[str]]) -> None:
        members = [y for ys in groups.values() for y in ys]
        if sorted(members) != sorted(model.labels) or len(set(members)) != len(members):
            raise SUAInputError(f"label groups {dict(groups)} must cover each model label "
                                f"{list(model.labels)} exactly once")
        self.model = model
        self.labels = list(groups)
        index = {y: i for i, y in enumerate(model.labels)}
        self._matrix = np.zeros((len(model.labels), len(groups)))
        for j, ys in enumerate(groups.values()):
            for y in ys:
                self._matrix[index[y], j] = 1.0

    def group(self, probs: np.ndarray) -> np.ndarray:
        """(N, C) distributions over the model's labels → (N, G) over the groups."""
        return np.asarray(probs, dtype=np.float64) @ self._matrix

    def predict_proba(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        """(N, G) group probabilities."""
        return self.group(self.model.predict_proba(inputs))
