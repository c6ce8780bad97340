"""Language-model backends by name: ``hf-causal`` (transformers) and ``openai`` (an HTTP server).

Both give ``loglikelihoods`` (for :class:`~sua.models.causal_lm.LMClassifier`) and ``generate``
(for :class:`~sua.models.generation.AnswerSampler`).
"""

from __future__ import annotations

from sua.errors import SUAInputError
from sua.models.hf_causal import HFCausalLM
from sua.models.openai_client import OpenAIClient, OpenAIServer
from sua.models.openai_lm import OpenAILM
from sua.models.options import ModelOptions

LM_BACKENDS = ("hf-causal", "openai")


def load_lm(backend: str, model: str | None = None, *, options: ModelOptions | None = None,
            dtype: str | None = None, server: OpenAIServer | None = None,
            scoring: str = "echo") -> HFCausalLM | OpenAILM:
    """Build a backend.

    ``hf-causal``: ``model`` is a hub name or folder, ``None`` for the offline SmolLM2;
    ``options`` (device, precision, batch size, max length, revision:
    :class:`~sua.models.options.ModelOptions`) and ``dtype`` apply. ``openai``: ``model`` is the
    server's model name and ``server`` its address, request cache, concurrency and retries
    (:class:`~sua.models.openai_client.OpenAIServer`); ``scoring`` (``echo`` or ``first_token``)
    applies, and ``options`` only at fp32 (the server runs at its own precision).

    >>> # server = OpenAIServer("http://127.0.0.1:8000/v1", cache_dir="runs/cache")
    >>> # lm = load_lm("openai", "smollm2", server=server)
    """
    options = options or ModelOptions()
    if backend == "hf-causal":
        return HFCausalLM(model, options=options, dtype=dtype)
    if backend == "openai":
        if options.precision != "fp32":
            raise SUAInputError(f"precision {options.precision!r} applies to local models; the openai "
                                "backend runs at the server's precision")
        if server is None or not model:
            raise SUAInputError("the openai backend needs base_url= (e.g. http://127.0.0.1:8000/v1) and "
                                "model= (the server's model name)")
        return OpenAILM(OpenAIClient(server, model), scoring=scoring)
    raise SUAInputError(f"unknown LM backend {backend!r}; known: {list(LM_BACKENDS)}")
