"""An OpenAI-compatible server as a backend: continuation log-likelihoods and sampled answers.

Log-likelihoods, two ways (``scoring``):

- ``"echo"`` (exact, default): ``/completions`` with ``echo: true, logprobs: 1`` on
  ``prompt + continuation``; ``log p(continuation | prompt)`` is the sum of the echoed token
  log-probabilities of the tokens that start inside the continuation. Needs a server that returns
  correct prompt log-probabilities (vLLM does). llama.cpp's own server returns none, and
  llama-cpp-python's server (0.3.36, ``--logits_all true``) returns them shifted by one position
  (each token scored by the distribution *after* it; upstream issue abetlen/llama-cpp-python#1983):
  use ``"first_token"`` with those. Chat prompts need ``chat_formatter`` (e.g. a tokenizer's
  ``apply_chat_template``) to become text.
- ``"first_token"`` (approximate, for chat APIs without echo): one greedy token per prompt with
  ``top_logprobs``; a label scores the log-sum-exp of the top tokens that begin its verbaliser
  (compared without spaces or case), or, when none does, the smallest returned log-probability,
  an upper bound on its first token's. One request per prompt serves all labels.

Generation sends one request per sample (``n = 1``, seed ``prompt_seed(seed, prompt) + j``),
since llama.cpp and Ollama ignore ``n``; chat prompts go to ``/chat/completions``, plain ones to
``/completions``. Token entropies come from the ``top_logprobs`` tokens, renormalised: a lower
estimate of the full next-token entropy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sua.errors import SUAInputError
from sua.models.causal_lm import Continuation
from sua.models.generation import Generation, SamplingConfig, cut_at_stop, prompt_seed
from sua.models.openai_client import Json, OpenAIClient, OpenAIRequestError
from sua.models.prompts import Prompt

SCORINGS = ("echo", "first_token")


class OpenAILM:
    """Log-likelihoods and generation over an :class:`OpenAIClient` (module doc).

    >>> # lm = OpenAILM(OpenAIClient("http://127.0.0.1:8000/v1", "smollm2", cache_dir="runs/cache"))
    >>> # LMClassifier(lm, "sentiment").predict_proba(["A wonderful film."])
    """

    def __init__(self, client: OpenAIClient, *, scoring: str = "echo", top_logprobs: int = 5,
                 chat_formatter: Callable[[list[dict[str, str]]], str] | None = None) -> None:
        if scoring not in SCORINGS:
            raise SUAInputError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
        if not isinstance(top_logprobs, int) or not 1 <= top_logprobs <= 20:
            raise SUAInputError(f"top_logprobs must be an integer in [1, 20], got {top_logprobs!r}")
        self.client = client
        self.scoring = scoring
        self.top_logprobs = top_logprobs
        self.chat_formatter = chat_formatter

    def __repr__(self) -> str:
        return f"OpenAILM({self.client!r}, scoring={self.scoring!r})"

    # -- log-likelihoods ---------------------------------------------------------------

    def loglikelihoods(self, requests: Sequence[tuple[Prompt, str]]) -> list[Continuation]:
        """``log p(continuation | prompt)`` per request (module doc)."""
        if self.scoring == "echo":
            return self._echo(requests)
        return self._first_token(requests)

    def _text(self, prompt: Prompt) -> str:
        if not prompt.chat:
            return prompt.text
        if self.chat_formatter is None:
            raise SUAInputError("echo scoring of a chat prompt needs chat_formatter= (e.g. a tokenizer's "
                                "apply_chat_template with tokenize=False), or scoring='first_token'")
        return self.chat_formatter(prompt.messages())

    def _echo(self, requests: Sequence[tuple[Prompt, str]]) -> list[Continuation]:
        spans, bodies = [], []
        for prompt, continuation in requests:
            context = self._text(prompt)
            spans.append((len(context), len(context) + len(continuation)))
            bodies.append({"prompt": context + continuation, "max_tokens": 1, "temperature": 0.0,
                           "echo": True, "logprobs": 1})
        out = []
        for (start, end), answer in zip(spans, self.client.post_many("/completions", bodies), strict=True):
            lp = _choice(answer).get("logprobs") or {}
            offsets, values = lp.get("text_offset") or [], lp.get("token_logprobs") or []
            picked = [v for o, v in zip(offsets, values, strict=False) if start <= o < end]
            if not picked or any(v is None for v in picked):
                raise OpenAIRequestError("the server returned no log-probabilities for the echoed prompt; "
                                         "echo scoring needs a server that does (llama.cpp: --logits_all "
                                         "true), else use scoring='first_token'")
            out.append(Continuation(math.fsum(picked), len(picked)))
        return out

    def _first_token(self, requests: Sequence[tuple[Prompt, str]]) -> list[Continuation]:
        prompts = list(dict.fromkeys(p for p, _ in requests))
        bodies = [self._body(p, _ONE_GREEDY_TOKEN, seed=0) for p in prompts]
        answers = self.client.post_many(_endpoint(prompts), bodies)
        tops = {p: _top_tokens(_choice(a), 0) for p, a in zip(prompts, answers, strict=True)}
        out = []
        for prompt, continuation in requests:
            top = tops[prompt]
            target = _squash(continuation)
            hits = [v for t, v in top.items() if _squash(t) and target.startswith(_squash(t))]
            out.append(Continuation(_logsumexp(hits) if hits else min(top.values()), 1))
        return out

    # -- generation --------------------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: SamplingConfig, seed: int,
                 greedy: bool = False) -> list[list[Generation]]:
        """Per prompt, ``n`` samples (the greedy answer first when ``greedy``), one request each."""
        rows = n + int(greedy)
        if rows < 1:
            raise SUAInputError(f"n (samples per prompt) must be >= 1 (or 0 with greedy), got {n!r}")
        flat = [p for p in prompts for _ in range(rows)]
        bodies = []
        for p in prompts:
            base = prompt_seed(seed, p)
            for j in range(rows):
                cfg = replace(sampling, temperature=0.0, top_p=1.0) if greedy and j == 0 else sampling
                bodies.append(self._body(p, cfg, seed=(base + j) % 2**31))
        answers = self.client.post_many(_endpoint(flat), bodies) if flat else []
        made = [_generation(_choice(a), sampling.stop) for a in answers]
        return [made[i * rows:(i + 1) * rows] for i in range(len(prompts))]

    def _body(self, prompt: Prompt, sampling: SamplingConfig, seed: int) -> Json:
        body: Json = {"max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                      "top_p": sampling.top_p, "seed": seed}
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if prompt.chat:
            return {"messages": prompt.messages(), **body, "logprobs": True,
                    "top_logprobs": self.top_logprobs}
        return {"prompt": prompt.text, **body, "logprobs": self.top_logprobs}


#: One greedy token: what first-token scoring asks for.
_ONE_GREEDY_TOKEN = SamplingConfig(temperature=0.0, max_new_tokens=1)


def _endpoint(prompts: Sequence[Prompt]) -> str:
    """``/chat/completions`` for chat prompts, ``/completions`` for plain ones (never mixed)."""
    kinds = {p.chat for p in prompts}
    if len(kinds) > 1:
        raise SUAInputError("one call mixes chat and plain prompts; use one template per call")
    return "/chat/completions" if kinds == {True} else "/completions"


def _choice(answer: Json) -> Json:
    choices = answer.get("choices")
    if not choices:
        raise OpenAIRequestError(f"the server's answer has no choices: {str(answer)[:200]}")
    return choices[0]


def _top_tokens(choice: Json, step: int) -> dict[str, float]:
    """The top tokens and their log-probabilities at one generated step, chat or completions format."""
    lp = choice.get("logprobs") or {}
    if "content" in lp:
        entries = lp["content"] or []
        listed = entries[step].get("top_logprobs", []) if len(entries) > step else []
        tops = {e["token"]: e["logprob"] for e in listed}
    else:
        listed = lp.get("top_logprobs") or []
        tops = dict(listed[step]) if len(listed) > step and listed[step] else {}
    if not tops:
        raise OpenAIRequestError("the server returned no top_logprobs; it must support logprobs")
    return tops


def _generation(choice: Json, stop: Sequence[str]) -> Generation:
    text = choice.get("text")
    if text is None:
        text = (choice.get("message") or {}).get("content") or ""
    text, _ = cut_at_stop(text, stop)
    lp: Any = choice.get("logprobs") or {}
    if "content" in lp:
        chosen = [e["logprob"] for e in lp["content"] or []]
    else:
        chosen = lp.get("token_logprobs") or []
    entropies = tuple(_entropy(_top_tokens(choice, t).values()) for t in range(len(chosen)))
    finish = "length" if choice.get("finish_reason") == "length" else "stop"
    return Generation(text.strip(), tuple(float(v) for v in chosen), entropies, finish)


def _squash(token: str) -> str:
    """A token or verbaliser compared without whitespace or case."""
    return "".join(token.split()).lower()


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def _entropy(logprobs: Any) -> float:
    """Entropy of the renormalised distribution ``softmax(logprobs)``."""
    values = list(logprobs)
    log_z = _logsumexp(values)
    return -math.fsum(math.exp(v - log_z) * (v - log_z) for v in values)
