"""The one registry of failure scores: per-input values, higher = more likely wrong.

Each score is a function of the per-input columns a score record carries (``sensitivity``,
``entropy``, ``sua``, ``max_prob``, arrays of shape ``(N,)``). The summary, the metrics
tables, the paper reproduction and the abstention policy all read their scores from here, so
a new failure score is one entry. Scores fitted on validation data (λ from validation, the
Appendix C combined rule, temperature scaling) are built on these in
:mod:`sua.eval.failure_scores`.

>>> import numpy as np
>>> columns = {"sensitivity": np.array([0.3, 0.1]), "entropy": np.array([0.1, 0.4]),
...            "sua": np.array([0.2, -0.3]), "max_prob": np.array([0.9, 0.6])}
>>> {name: failure_score(name, columns).round(2).tolist() for name in FAILURE_SCORES}
{'sua': [0.2, -0.3], 'sensitivity': [0.3, 0.1], 'entropy': [0.1, 0.4], '1-max_prob': [0.1, 0.4]}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sua.errors import SUAInputError

__all__ = ["FAILURE_SCORES", "FailureScore", "failure_score"]


@dataclass(frozen=True)
class FailureScore:
    """A failure score: the record columns it reads and the function of those columns (each
    ``(N,)``, in that order) that gives the score ``(N,)``."""

    columns: tuple[str, ...]
    compute: Callable[..., ArrayLike]


#: name -> score. ``sua`` is ``S − λH`` at the λ the records were scored (or a policy's λ,
#: when the caller passes that column); the rest read one column each.
FAILURE_SCORES: dict[str, FailureScore] = {
    "sua": FailureScore(("sua",), lambda sua: sua),
    "sensitivity": FailureScore(("sensitivity",), lambda s: s),
    "entropy": FailureScore(("entropy",), lambda h: h),
    "1-max_prob": FailureScore(("max_prob",), lambda p: 1.0 - p),
}


def failure_score(name: str, columns: Mapping[str, ArrayLike]) -> np.ndarray:
    """The failure score ``name`` of :data:`FAILURE_SCORES` from per-input ``columns``."""
    if name not in FAILURE_SCORES:
        raise SUAInputError(f"unknown failure score {name!r}; known: {sorted(FAILURE_SCORES)}")
    score = FAILURE_SCORES[name]
    missing = [c for c in score.columns if c not in columns]
    if missing:
        raise SUAInputError(f"failure score {name!r} needs the column(s) {missing}; pass score "
                            "records written by `sua score`")
    return np.asarray(score.compute(*(np.asarray(columns[c], dtype=np.float64)
                                      for c in score.columns)), dtype=np.float64)
