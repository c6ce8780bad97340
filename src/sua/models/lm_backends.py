"""Language-model backends by name: ``hf-causal`` (transformers) and ``openai`` (an HTTP server).

Both give ``loglikelihoods`` (for :class:`~sua.models.causal_lm.LMClassifier`) and ``generate``
(for :class:`~sua.models.generation.AnswerSampler`).
"""

from __future__ import annotations

import os

from sua.errors import SUAInputError
from sua.models.hf_causal import HFCausalLM
from sua.models.openai_client import OpenAIClient
from sua.models.openai_lm import OpenAILM

LM_BACKENDS = ("hf-causal", "openai")


def load_lm(backend: str, model: str | None = None, *, base_url: str | None = None,
            api_key: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
            max_concurrency: int = 4, scoring: str = "echo", batch_size: int = 4,
            max_length: int = 2048, device: str | None = None,
            dtype: str | None = None, precision: str = "fp32") -> HFCausalLM | OpenAILM:
    """Build a backend.

    ``hf-causal``: ``model`` is a hub name or folder, ``None`` for the offline SmolLM2;
    ``batch_size``, ``max_length``, ``device``, ``dtype`` and ``precision`` apply. ``openai``:
    ``model`` is the server's model name and ``base_url`` its address (``http://host:port/v1``); ``api_key``
    (default ``$OPENAI_API_KEY``), ``cache_dir`` (the request cache), ``max_concurrency`` and
    ``scoring`` (``echo`` or ``first_token``) apply.

    >>> # lm = load_lm("openai", "smollm2", base_url="http://127.0.0.1:8000/v1", cache_dir="runs/cache")
    """
    if backend == "hf-causal":
        return HFCausalLM(model, batch_size=batch_size, max_length=max_length, device=device, dtype=dtype,
                          precision=precision)
    if backend == "openai":
        if precision != "fp32":
            raise SUAInputError(f"precision {precision!r} applies to local models; the openai backend "
                                "runs at the server's precision")
        if not base_url or not model:
            raise SUAInputError("the openai backend needs base_url= (e.g. http://127.0.0.1:8000/v1) and "
                                "model= (the server's model name)")
        client = OpenAIClient(base_url, model, api_key=api_key, cache_dir=cache_dir,
                              max_concurrency=max_concurrency)
        return OpenAILM(client, scoring=scoring)
    raise SUAInputError(f"unknown LM backend {backend!r}; known: {list(LM_BACKENDS)}")
