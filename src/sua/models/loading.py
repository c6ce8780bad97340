"""One entry point from a model name or folder to a :class:`PredictiveModel`."""

from __future__ import annotations

import os
from typing import Any

from sua.models.base import PredictiveModel
from sua.models.hf_classifier import HFSequenceClassifier


def load_model(name_or_path: str | os.PathLike[str], **kwargs: Any) -> PredictiveModel:
    """Load a sequence classifier from a local folder or a hub name.

    ``kwargs`` go to :class:`HFSequenceClassifier` (``labels``, ``batch_size``,
    ``max_length``, ``device``, ``revision``, ``allow_untrained_head``). A path-like name
    (``./x``, ``/x``, ``~/x``, ``a/b/c``) that does not exist raises
    :class:`~sua.errors.SUAInputError` ("model path not found"); a hub name that is not
    cached while ``HF_HUB_OFFLINE=1`` raises one that says offline mode is on.
    """
    return HFSequenceClassifier(name_or_path, **kwargs)
