"""``sua.score``: score whatever inputs a user holds with any model, in one call."""

from __future__ import annotations

import os
from typing import Any

from sua import defaults
from sua.models.base import PredictiveModel
from sua.perturb.base import Perturber
from sua.records import ScoreRecord
from sua.scoring.scorer import SUAScorer
from sua.tables import as_examples


def score(model: PredictiveModel | str | os.PathLike[str], inputs: Any, *,
          perturber: Perturber | str = "token", k: int = defaults.K,
          divergence: str = defaults.DIVERGENCE, lam: float = defaults.LAM,
          seed: int = 0, text_field: str = "text", pair_field: str | None = None,
          label_field: str | None = "label", id_field: str = "id", **options: Any) -> list[ScoreRecord]:
    """Score ``inputs`` with SUA(x) = Ŝ(x) − λ·H(x), Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)).

    ``model``: any :class:`~sua.models.base.PredictiveModel` (``CallableModel``,
    ``SklearnModel``, ``HFSequenceClassifier``...) or a classifier folder / hub name
    (:func:`sua.models.load_model`). ``inputs``: strings, ``(text, pair)`` tuples, dicts, a
    pandas DataFrame or a ``datasets.Dataset`` (:func:`sua.tables.as_examples`, with the
    ``*_field`` names). ``perturber``: a :class:`~sua.perturb.base.Perturber` or a registered
    family name. ``options`` go to :class:`SUAScorer` (``perturb_field``, ``chunk_size``,
    ``thresholds``). Returns one record per input, in order; :func:`sua.tables.records_frame`
    makes them a DataFrame.

    >>> # records = sua.score(model, df, text_field="premise", pair_field="hypothesis")
    """
    if isinstance(model, (str, os.PathLike)):
        from sua.models import load_model

        model = load_model(model)
    if isinstance(perturber, str):
        from sua.perturb import get_perturber

        perturber = get_perturber(perturber)
    scorer = SUAScorer(model, perturber, k=k, divergence=divergence, lam=lam, seed=seed, **options)
    examples = as_examples(inputs, text_field=text_field, pair_field=pair_field, label_field=label_field,
                           id_field=id_field)
    return list(scorer.score(examples))
