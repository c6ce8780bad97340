"""One entry point from a model name or folder to a :class:`PredictiveModel`."""

from __future__ import annotations

import os
from typing import Any

from sua.errors import SUAInputError
from sua.models.base import PredictiveModel
from sua.models.hf_classifier import HFSequenceClassifier
from sua.models.options import ModelOptions
from sua.models.qa_span import HFExtractiveQA

#: The encoder adapter of each task head (:data:`sua.tasks.HEADS`): a sequence classifier, or an
#: extractive-QA span model.
ADAPTERS: dict[str, type] = {"classification": HFSequenceClassifier, "qa": HFExtractiveQA}


def load_model(name_or_path: str | os.PathLike[str], *, head: str = "classification",
               options: ModelOptions | None = None, **kwargs: Any) -> PredictiveModel | HFExtractiveQA:
    """Load the encoder adapter of ``head`` (:data:`ADAPTERS`; default a sequence classifier)
    from a local folder or a hub name, run as ``options`` say (device, precision, batch size,
    max length, revision: :class:`~sua.models.options.ModelOptions`).

    ``kwargs`` are the adapter's own: :class:`HFSequenceClassifier` (``labels``,
    ``allow_untrained_head``) or :class:`~sua.models.qa_span.HFExtractiveQA`
    (``max_question_tokens``, ``max_answer_tokens``, ``top_n``). A path-like name (``./x``,
    ``/x``, ``~/x``, ``a/b/c``) that does not exist raises :class:`~sua.errors.SUAInputError`
    ("model path not found"); a hub name that is not cached while ``HF_HUB_OFFLINE=1`` raises
    one that says offline mode is on.
    """
    if head not in ADAPTERS:
        raise SUAInputError(f"no encoder adapter for the {head!r} head; heads with one: "
                            f"{', '.join(ADAPTERS)}")
    return ADAPTERS[head](name_or_path, options=options, **kwargs)
