"""``sua.score``: score whatever inputs a user holds with any model, in one call."""

from __future__ import annotations

import os
from typing import Any

from sua.models.base import PredictiveModel
from sua.perturb.base import Perturber
from sua.records import ScoreRecord
from sua.scoring.config import Fields
from sua.scoring.scorer import SUAScorer
from sua.tables import as_examples


def score(model: PredictiveModel | str | os.PathLike[str], inputs: Any, fields: Fields | None = None, *,
          perturber: Perturber | str = "token", **options: Any) -> list[ScoreRecord]:
    """Score ``inputs`` with SUA(x) = Ŝ(x) − λ·H(x), Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)).

    ``model``: any :class:`~sua.models.base.PredictiveModel` (``CallableModel``,
    ``SklearnModel``, ``HFSequenceClassifier``...) or a classifier folder / hub name
    (:func:`sua.models.load_model`). ``inputs``: strings, ``(text, pair)`` tuples, dicts, a
    pandas DataFrame or a ``datasets.Dataset`` (:func:`sua.tables.as_examples`, with the
    field names of ``fields``, a :class:`~sua.scoring.config.Fields`). ``perturber``: a
    :class:`~sua.perturb.base.Perturber` or a registered family name. ``options`` go to
    :class:`SUAScorer`: the :class:`~sua.scoring.config.ScoringConfig` fields (``k``,
    ``divergence``, ``lam``, ``seed``, ``perturb_field``, ``thresholds``) or a whole ``config``,
    and ``chunk_size``. Returns one record per input, in order; :func:`sua.tables.records_frame`
    makes them a DataFrame.

    >>> # records = sua.score(model, df, Fields("premise", "hypothesis"), k=4)
    """
    if isinstance(model, (str, os.PathLike)):
        from sua.models import load_model

        model = load_model(model)
    if isinstance(perturber, str):
        from sua.perturb import get_perturber

        perturber = get_perturber(perturber)
    scorer = SUAScorer(model, perturber, **options)
    return list(scorer.score(as_examples(inputs, **(fields or Fields()).reader())))
