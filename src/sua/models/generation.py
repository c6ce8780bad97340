"""Sampling answers from a language model: the shared types and the per-input sampler.

A :class:`TextGenerator` backend (``HFCausalLM``, ``OpenAILM``) continues :class:`Prompt` s;
an :class:`AnswerSampler` renders each input with a :class:`PromptTemplate` and asks the
backend for M samples per input (plus, on request, the greedy answer), so that answers can be
grouped into meaning clusters (:mod:`sua.models.clustering`) and turned into a distribution
over clusters.

Sampling is reproducible: a backend draws the samples of one prompt from a random stream owned
by ``(seed, prompt)`` (:func:`prompt_seed`), never by call order or batch composition.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol, runtime_checkable

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.models.prompts import Prompt, PromptTemplate, load_template


@dataclass(frozen=True)
class SamplingConfig:
    """How answers are sampled: ``temperature`` (0 = greedy), nucleus ``top_p``,
    ``max_new_tokens`` and the ``stop`` strings that end an answer (not part of it)."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise SUAInputError(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise SUAInputError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise SUAInputError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if isinstance(self.stop, str) or any(not isinstance(s, str) or not s for s in self.stop):
            raise SUAInputError(f"stop must be a sequence of non-empty strings, got {self.stop!r}")


#: Greedy decoding (``temperature=0``): the model's single most likely answer.
GREEDY = SamplingConfig(temperature=0.0)


@dataclass(frozen=True)
class Generation:
    """One generated answer.

    ``token_logprobs``: ``log p(w_t | prompt, w_<t)`` of each generated token under the model
    (temperature 1; the HF backend includes the token that ended the answer, end-of-sequence or
    the start of a stop string, so an empty answer has one entry); ``token_entropies``: the
    entropy (nats) of the model's next-token distribution at each step, ``-Σ_v p(v) log p(v)``
    (an OpenAI-compatible server returns only the top tokens, so there it is the entropy of
    those, renormalised); ``finish_reason``:
    ``"stop"`` (a stop string or end-of-sequence token) or ``"length"``.
    """

    text: str
    token_logprobs: tuple[float, ...] = ()
    token_entropies: tuple[float, ...] = ()
    finish_reason: str = "stop"

    @property
    def mean_token_entropy(self) -> float:
        """``(1/T) Σ_t H_t`` over the generated tokens (NaN when none was recorded)."""
        h = self.token_entropies
        return math.fsum(h) / len(h) if h else math.nan

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@runtime_checkable
class TextGenerator(Protocol):
    """A backend that continues prompts.

    ``generate(prompts, n=M, sampling=cfg, seed=s, greedy=g)`` returns, per prompt, ``M``
    samples drawn with ``cfg`` — preceded by the greedy answer when ``g`` — from the stream
    :func:`prompt_seed` ``(s, prompt)``.
    """

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: SamplingConfig, seed: int,
                 greedy: bool = False) -> list[list[Generation]]: ...


def prompt_seed(seed: int, prompt: Prompt) -> int:
    """A 63-bit seed owned by ``(seed, prompt)``: SHA-256 of both, stable across processes."""
    key = f"{int(seed)}\x00{prompt.chat}\x00{prompt.system or ''}\x00{prompt.text}"
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little") >> 1


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop string (excluded), and whether one was found."""
    cuts = [i for s in stop if (i := text.find(s)) >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)


@dataclass
class AnswerSampler:
    """M sampled answers per input: ``template`` renders the prompt, ``generator`` samples.

    The template's ``stop`` strings are added to ``sampling.stop``.

    >>> # sampler = AnswerSampler(HFCausalLM(), "qa-generative", SamplingConfig(temperature=1.0))
    >>> # sampler.sample([(context, question)], n=10, seed=0, greedy=True)[0][0].text
    """

    generator: TextGenerator
    template: PromptTemplate | str = "qa-generative"
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    def __post_init__(self) -> None:
        self.template = load_template(self.template)
        stop = tuple(dict.fromkeys((*self.sampling.stop, *self.template.stop)))
        self.sampling = replace(self.sampling, stop=stop)

    def config(self) -> dict[str, object]:
        """What determines the samples (written beside every output file)."""
        t = self.template
        return {"generator": repr(self.generator), "template": t.name, "template_version": t.version,
                "sampling": asdict(self.sampling)}

    def sample(self, inputs: Sequence[ModelInput], *, n: int, seed: int,
               greedy: bool = False) -> list[list[Generation]]:
        """Per input, ``n`` samples (the greedy answer first when ``greedy``)."""
        prompts = [self.template.render(x) for x in inputs]
        return self.generator.generate(prompts, n=n, sampling=self.sampling, seed=seed, greedy=greedy)


def sampling_fn(generator: TextGenerator,
                sampling: SamplingConfig) -> Callable[[Prompt, int, int], list[str]]:
    """``(prompt, n, seed) -> n sampled texts``: the callable :mod:`sua.perturb.lm_paraphrase` takes."""

    def generate(prompt: Prompt, n: int, seed: int) -> list[str]:
        return [g.text for g in generator.generate([prompt], n=n, sampling=sampling, seed=seed)[0]]

    return generate
