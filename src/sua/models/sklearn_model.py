"""A fitted scikit-learn estimator or pipeline over raw text, as p(y|x)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.models._checks import check_output, validate_inputs, validate_labels


class SklearnModel:
    """Wrap a fitted estimator with ``predict_proba`` and ``classes_`` (e.g. TF-IDF + LR).

    The estimator receives a list of strings; a pair ``(first, second)`` is joined into
    ``first + pair_separator + second``. ``labels`` defaults to ``[str(c) for c in
    classes_]``; a given list must name each class exactly once (as ``str(c)``) and sets
    the column order of the output. scikit-learn itself is never imported here, so any
    object with the same two attributes works.

    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> pipe = make_pipeline(TfidfVectorizer(), LogisticRegression())
    >>> pipe = pipe.fit(["good", "great", "bad", "awful"], ["pos", "pos", "neg", "neg"])
    >>> m = SklearnModel(pipe, labels=["pos", "neg"])
    >>> m.predict_proba(["good"]).argmax(axis=1).tolist()
    [0]
    """

    def __init__(
        self,
        estimator: Any,
        labels: Sequence[str] | None = None,
        pair_separator: str = " [SEP] ",
    ) -> None:
        if not callable(getattr(estimator, "predict_proba", None)):
            raise SUAInputError(
                f"{type(estimator).__name__} has no predict_proba; use a probabilistic "
                "classifier (e.g. LogisticRegression) or CalibratedClassifierCV around it")
        try:
            classes = [str(c) for c in estimator.classes_]
        except AttributeError as err:
            raise SUAInputError(
                f"{type(estimator).__name__} has no classes_: fit it before wrapping it") from err
        validate_labels(classes)
        self.estimator = estimator
        self.pair_separator = pair_separator
        self.labels = validate_labels(classes if labels is None else labels)
        unknown = [label for label in self.labels if label not in classes]
        missing = [c for c in classes if c not in self.labels]
        if unknown or missing:
            raise SUAInputError(
                f"labels {self.labels} do not match the estimator's classes {classes}: "
                f"unknown {unknown}, missing {missing}; labels must name every class once")
        #: Column of ``estimator.predict_proba`` for each label, in ``labels`` order.
        self._columns = np.array([classes.index(label) for label in self.labels])

    def __repr__(self) -> str:
        return f"SklearnModel({type(self.estimator).__name__}, labels={self.labels})"

    def predict_proba(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        """p(y|x) from ``estimator.predict_proba``, columns in ``labels`` order, (N, C)."""
        items, is_pair = validate_inputs(inputs)
        if not items:
            return np.empty((0, len(self.labels)), dtype=np.float64)
        texts = [self.pair_separator.join(x) for x in items] if is_pair else items
        out = check_output(self.estimator.predict_proba(texts), len(texts), self.labels,
                           f"the estimator {type(self.estimator).__name__}")
        return out[:, self._columns]
