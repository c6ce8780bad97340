"""A causal language model as a classifier: p(y|x) over verbalised labels.

The lm-evaluation-harness multiple-choice convention: the prompt template renders x, each
label y has a verbalised continuation c_y (``template.choices``), and

    ℓ_y(x) = log p(c_y | prompt(x)) = Σ_t log p(c_{y,t} | prompt(x), c_{y,<t})
    p(y|x) = softmax_y( ℓ_y(x) / n_y )

with ``n_y = 1`` (``normalize="none"``, the default), the number of continuation tokens
(``"tokens"``) or of its characters (``"chars"``, the harness's ``acc_norm``). Any backend with
``loglikelihoods`` serves: :class:`~sua.models.hf_causal.HFCausalLM` (transformers, batched
with a shared prompt prefix) or :class:`~sua.models.openai_lm.OpenAILM` (an OpenAI-compatible
server).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.models._checks import validate_inputs, validate_labels
from sua.models.prompts import Prompt, PromptTemplate, load_template

NORMALIZATIONS = ("none", "tokens", "chars")


class Continuation(NamedTuple):
    """``log p(continuation | prompt)`` (nats) and the number of continuation tokens it sums."""

    logprob: float
    n_tokens: int


@runtime_checkable
class LoglikelihoodLM(Protocol):
    """A backend that scores continuations: ``loglikelihoods([(prompt, continuation), ...])``
    returns one :class:`Continuation` per request, in order."""

    def loglikelihoods(self, requests: Sequence[tuple[Prompt, str]]) -> list[Continuation]: ...


class LMClassifier:
    """Verbalised-label classification with a causal LM, a :class:`~sua.models.base.PredictiveModel`.

    ``p(y|x) = softmax_y(ℓ_y(x) / n_y)`` (module doc). ``template`` is a shipped template name
    (``"nli"``, ``"sentiment"``, ``"ag_news"``), a JSON file or a :class:`PromptTemplate` with
    ``choices``; ``labels`` are its choice names, in file order. All (input, label) pairs of a
    call go to the backend in one ``loglikelihoods`` request, so it can batch them.

    >>> # clf = LMClassifier(HFCausalLM(), "sentiment")       # offline SmolLM2
    >>> # clf.predict_proba(["A wonderful, moving film."])    # -> [[p_negative, p_positive]]
    """

    def __init__(self, lm: LoglikelihoodLM, template: str | PromptTemplate, *,
                 normalize: str = "none") -> None:
        if normalize not in NORMALIZATIONS:
            raise SUAInputError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        self.lm = lm
        self.template = load_template(template)
        if not self.template.choices:
            raise SUAInputError(f"template {self.template.name!r} has no choices; a classifier needs "
                                "a verbalised continuation per label")
        self.labels = validate_labels(self.template.labels)
        self.normalize = normalize

    def __repr__(self) -> str:
        return (f"LMClassifier({self.lm!r}, template={self.template.name!r} "
                f"v{self.template.version}, normalize={self.normalize!r})")

    def label_loglikelihoods(self, inputs: Sequence[ModelInput]) -> tuple[np.ndarray, np.ndarray]:
        """``(ℓ, n)``: ℓ[i, y] = log p(c_y | prompt(x_i)) and n[i, y] its token count, (N, C) each."""
        items, _ = validate_inputs(inputs)
        choices = list(self.template.choices.values())
        requests = [(self.template.render(x), c) for x in items for c in choices]
        scored = self.lm.loglikelihoods(requests)
        shape = (len(items), len(choices))
        ll = np.array([s.logprob for s in scored], dtype=np.float64).reshape(shape)
        n = np.array([s.n_tokens for s in scored], dtype=np.int64).reshape(shape)
        return ll, n

    def predict_proba(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        """p(y|x) as an (N, C) float64 array, rows in input order."""
        ll, n_tokens = self.label_loglikelihoods(inputs)
        if self.normalize == "tokens":
            ll = ll / n_tokens
        elif self.normalize == "chars":
            ll = ll / np.array([len(c) for c in self.template.choices.values()], dtype=np.float64)
        return torch.softmax(torch.from_numpy(ll), dim=-1).numpy()
