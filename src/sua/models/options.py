"""How a model adapter loads and runs its model: one frozen set of options shared by every
torch adapter (:class:`~sua.models.hf_classifier.HFSequenceClassifier`,
:class:`~sua.models.qa_span.HFExtractiveQA`, :class:`~sua.models.hf_causal.HFCausalLM`) and by
:func:`~sua.models.loading.load_model` and :func:`~sua.models.lm_backends.load_lm`.

Sizes left at ``None`` take the adapter's own default (:meth:`ModelOptions.sized`): a batch of
32 inputs for the encoders and of 4 prompt groups for a causal LM; 256, 384 and 2048 tokens for
the classifier, extractive QA and the causal LM.

>>> ModelOptions(device="cpu").sized(batch_size=32, max_length=256)
ModelOptions(device='cpu', precision='fp32', batch_size=32, max_length=256, revision=None)
>>> ModelOptions(batch_size=0)
Traceback (most recent call last):
...
sua.errors.SUAInputError: batch_size must be a positive integer, got 0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from sua.errors import SUAInputError
from sua.models.precision import check_precision


@dataclass(frozen=True)
class ModelOptions:
    """Where and how an adapter runs its model (module doc).

    ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` or a ``torch.device``
    (:func:`~sua.models.precision.resolve_device`); ``None`` keeps a built model where it is
    and puts a loaded one on CUDA when available, else the CPU.
    ``precision``: ``fp32`` (default), ``bf16`` (autocast) or ``int8`` (dynamic quantisation
    of the linear layers, CPU), see :mod:`sua.models.precision`.
    ``batch_size``: inputs per forward (a causal LM: groups of prompts that share a beginning),
    a positive integer; ``None``: the adapter's default.
    ``max_length``: tokens an input is cut to, an integer >= 2; ``None``: the adapter's default.
    ``revision``: the hub branch, tag or commit of a model loaded by name (a local folder or a
    built model has none).
    """

    device: str | torch.device | None = None
    precision: str = "fp32"
    batch_size: int | None = None
    max_length: int | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.batch_size is not None and not _is_int(self.batch_size, 1):
            raise SUAInputError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.max_length is not None and not _is_int(self.max_length, 2):
            raise SUAInputError(f"max_length must be an integer >= 2, got {self.max_length!r}")

    def sized(self, *, batch_size: int, max_length: int) -> ModelOptions:
        """These options with ``batch_size`` and ``max_length`` (an adapter's defaults) filled in
        where they are ``None``."""
        return dataclasses.replace(
            self, batch_size=batch_size if self.batch_size is None else self.batch_size,
            max_length=max_length if self.max_length is None else self.max_length)


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low
