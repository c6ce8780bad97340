"""Extractive QA as p(span | question, context): a Hugging Face ``*ForQuestionAnswering`` model.

Output space (SPEC, "Output spaces"): answer spans of the unperturbed context; only the question
is perturbed. So that the clean question and every rewrite see the *identical* context tokens,
the context is tokenised alone and cut to a fixed window of at most
``context_tokens = max_length − max_question_tokens − (special tokens of a pair)`` tokens (the
string is cut at the end of the last kept token), questions are cut to ``max_question_tokens``
tokens, and each input is encoded as the pair ``(question, context window)``. The start and end
logits of the context positions of every variant then line up position by position.

Span distribution over the valid spans ``s ≤ e < s + max_answer_tokens`` of the window:

    p(s, e | q, c) = exp(start[s] + end[e]) / Σ_{valid (s', e')} exp(start[s'] + end[e'])

Its SUA output space is the ``top_n`` spans of the *clean* question plus one outcome "other"
holding the exact remaining mass (a log-sum-exp over every other valid span), so each variant's
distribution over the same ``top_n + 1`` outcomes is exact and sums to 1.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sua.errors import SUAInputError
from sua.models.hf_classifier import _from_pretrained, resolve_model
from sua.models.options import ModelOptions
from sua.models.precision import autocast, prepare_model

#: Filler of the context positions a row does not have, in batched ``(N, 2, L)`` logits.
MASKED_LOGIT = -1e4


@dataclass(frozen=True)
class ContextWindow:
    """The fixed part of every input built on one context: its first ``len(ids)`` tokens.

    ``offsets[t]`` is the ``(start, end)`` character span of token ``t`` in ``context``;
    ``text = context[:offsets[-1][1]]`` is what the model reads.
    """

    context: str
    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]

    @property
    def text(self) -> str:
        return self.context[:self.offsets[-1][1]]

    def span_text(self, start: int, end: int) -> str:
        """The context characters of tokens ``start..end`` (inclusive)."""
        return self.context[self.offsets[start][0]:self.offsets[end][1]]


@dataclass(frozen=True)
class QAFeature:
    """One encoded ``(question, context window)`` pair: the model's inputs (unpadded) and where
    the window's tokens sit in them (``input_ids[context_start : context_start + len(window.ids)]``)."""

    inputs: dict[str, list[int]]
    context_start: int
    window: ContextWindow

    @property
    def context_len(self) -> int:
        return len(self.window.ids)


@dataclass(frozen=True)
class Span:
    """An answer span: characters ``start_char:end_char`` of the context (``text``)."""

    start_char: int
    end_char: int
    text: str


@dataclass
class SpanDistribution:
    """The distributions of V question variants over the same ``N + 1`` outcomes.

    ``candidates``: the top-N spans of the first (clean) variant; ``probs`` (V, N+1) float64,
    column ``N`` being "any other valid span"; ``predictions``: each variant's own most
    probable span (over *all* valid spans), as text.
    """

    candidates: list[Span]
    probs: np.ndarray
    predictions: list[str]


def span_log_probs(start: torch.Tensor, end: torch.Tensor, max_answer_tokens: int) -> torch.Tensor:
    """``log p(s, e)`` (V, L, L) from start and end logits (V, L): ``-inf`` off the valid spans
    ``s ≤ e < s + max_answer_tokens``, normalised over the valid ones."""
    length = start.shape[-1]
    pos = torch.arange(length, device=start.device)
    width = pos[None, :] - pos[:, None]
    valid = (width >= 0) & (width < max_answer_tokens)
    scores = (start[:, :, None] + end[:, None, :]).masked_fill(~valid, -torch.inf)
    return scores - torch.logsumexp(scores.flatten(1), dim=1)[:, None, None]


def span_distribution(window: ContextWindow, start: np.ndarray, end: np.ndarray, *,
                      top_n: int = 20, max_answer_tokens: int = 30) -> SpanDistribution:
    """:class:`SpanDistribution` of V variants from their context logits ``start``, ``end`` (V, L);
    row 0 (the clean question) picks the ``top_n`` candidates."""
    logp = span_log_probs(torch.as_tensor(start, dtype=torch.float64),
                          torch.as_tensor(end, dtype=torch.float64), max_answer_tokens).flatten(1)
    length = start.shape[-1]
    n_valid = int(torch.isfinite(logp[0]).sum())
    top = torch.topk(logp[0], min(top_n, n_valid)).indices
    rest = logp.clone()
    rest[:, top] = -torch.inf
    probs = torch.cat([logp[:, top], torch.logsumexp(rest, dim=1, keepdim=True)], dim=1).exp()

    def span(flat: int) -> Span:
        s, e = divmod(flat, length)
        return Span(window.offsets[s][0], window.offsets[e][1], window.span_text(s, e))

    return SpanDistribution([span(int(i)) for i in top], probs.numpy(),
                            [span(int(i)).text for i in logp.argmax(dim=1)])


class HFExtractiveQA:
    """A ``transformers`` extractive QA model as a span distribution (module doc for the formulas).

    ``model``: a local folder or hub name (tokenizer and ``AutoModelForQuestionAnswering`` are
    loaded from it, eager attention on CPU) or a built model with its ``tokenizer`` (a fast one:
    offsets are needed). ``max_question_tokens`` defaults to ``min(64, max_length // 4)``.
    ``options`` (:class:`~sua.models.options.ModelOptions`) holds ``device``, ``precision``
    (fp32, bf16 or int8, see :mod:`sua.models.precision`), ``batch_size`` (default 32),
    ``max_length`` (default 384) and ``revision``. Inference encodes every input once, sorts by
    length so each batch of ``batch_size`` is padded only to its own longest member, and runs
    under ``torch.inference_mode()`` in eval mode (the model's mode is restored afterwards).

    >>> # qa = HFExtractiveQA("runs/qa/model", options=ModelOptions(max_length=256))
    >>> # dist = qa.span_distributions([(context, [question, rewrite_1, rewrite_2])])[0]
    >>> # dist.probs.shape, dist.predictions[0]          # (3, 21), the clean answer
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | torch.nn.Module,
        tokenizer: Any = None,
        *,
        max_question_tokens: int | None = None,
        max_answer_tokens: int = 30,
        top_n: int = 20,
        options: ModelOptions | None = None,
    ) -> None:
        opts = (options or ModelOptions()).sized(batch_size=32, max_length=384)
        load = functools.partial(_load_qa_model, revision=opts.revision)
        model, tokenizer, dev = resolve_model(model, tokenizer, opts.device, load, "HFExtractiveQA",
                                              revision=opts.revision)
        if not getattr(tokenizer, "is_fast", False):
            raise SUAInputError(f"HFExtractiveQA needs a fast tokenizer (character offsets), got "
                                f"{type(tokenizer).__name__}")
        max_length, batch_size = int(opts.max_length), int(opts.batch_size)
        max_question_tokens = min(64, max_length // 4) if max_question_tokens is None \
            else max_question_tokens
        for name, value in (("max_question_tokens", max_question_tokens),
                            ("max_answer_tokens", max_answer_tokens), ("top_n", top_n)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SUAInputError(f"{name} must be a positive integer, got {value!r}")
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        self.context_tokens = max_length - max_question_tokens - specials
        if self.context_tokens < 1:
            raise SUAInputError(f"max_length={max_length} leaves no room for the context after "
                                f"max_question_tokens={max_question_tokens} and the special tokens; "
                                "raise max_length or lower max_question_tokens")
        self.model = prepare_model(model, opts.precision, dev)
        self.precision = opts.precision
        self.tokenizer = tokenizer
        self.device = dev
        self.max_length, self.max_question_tokens = max_length, max_question_tokens
        self.max_answer_tokens, self.top_n, self.batch_size = max_answer_tokens, top_n, batch_size

    def __repr__(self) -> str:
        name = getattr(self.model.config, "_name_or_path", "") or type(self.model).__name__
        return (f"HFExtractiveQA({name!r}, max_length={self.max_length}, max_question_tokens="
                f"{self.max_question_tokens}, max_answer_tokens={self.max_answer_tokens}, "
                f"top_n={self.top_n}, precision={self.precision!r})")

    def config(self) -> dict[str, Any]:
        """What determines the span distributions (written beside scores)."""
        return {"model": repr(self), "max_length": self.max_length,
                "max_question_tokens": self.max_question_tokens,
                "max_answer_tokens": self.max_answer_tokens, "top_n": self.top_n,
                "precision": self.precision}

    # -- encoding ------------------------------------------------------------------------

    def windows(self, contexts: Sequence[str]) -> list[ContextWindow]:
        """The fixed context window of each context (its first ``context_tokens`` tokens)."""
        enc = self.tokenizer(list(contexts), add_special_tokens=False, return_offsets_mapping=True,
                             verbose=False)  # long contexts are expected: they are cut here
        out = []
        for context, ids, offsets in zip(contexts, enc["input_ids"], enc["offset_mapping"], strict=True):
            if not ids:
                raise SUAInputError(f"context {context[:60]!r} has no tokens")
            n = min(len(ids), self.context_tokens)
            out.append(ContextWindow(context, tuple(ids[:n]), tuple(map(tuple, offsets[:n]))))
        return out

    def _cut_questions(self, questions: Sequence[str]) -> list[str]:
        enc = self.tokenizer(list(questions), add_special_tokens=False, return_offsets_mapping=True,
                             verbose=False)
        return [q if len(off) <= self.max_question_tokens else q[:off[self.max_question_tokens - 1][1]]
                for q, off in zip(questions, enc["offset_mapping"], strict=True)]

    def encode(self, pairs: Sequence[tuple[str, str]]) -> list[QAFeature]:
        """Encode ``(context, question)`` pairs (the order of :meth:`Example.model_input`) as
        ``(question, context window)`` model inputs; each distinct context is windowed once."""
        pairs = list(pairs)
        if not pairs:
            return []
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                raise SUAInputError(f"QA inputs are (context, question) pairs of strings, got {pair!r:.80}")
        contexts = list(dict.fromkeys(c for c, _ in pairs))
        window = dict(zip(contexts, self.windows(contexts), strict=True))
        questions = self._cut_questions([q for _, q in pairs])
        enc = self.tokenizer(questions, [window[c].text for c, _ in pairs], truncation=False)
        keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
        out = []
        for i, (context, _) in enumerate(pairs):
            w, seq = window[context], enc.sequence_ids(i)
            start = seq.index(1)
            ids = enc["input_ids"][i]
            if tuple(ids[start:start + len(w.ids)]) != w.ids or seq.count(1) != len(w.ids):
                raise SUAInputError(f"the tokenizer encodes the cut context {w.text[-40:]!r} differently "
                                    "inside a pair than alone, so context positions would not line "
                                    "up; use a WordPiece/BERT-like tokenizer")
            out.append(QAFeature({k: list(enc[k][i]) for k in keys}, start, w))
        return out

    def pad(self, features: Sequence[QAFeature]) -> dict[str, torch.Tensor]:
        """Pad one batch of features to its longest member; tensors on the model's device."""
        batch = self.tokenizer.pad([f.inputs for f in features], return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items()}

    @staticmethod
    def gather_context(start_logits: torch.Tensor, end_logits: torch.Tensor,
                       features: Sequence[QAFeature]) -> torch.Tensor:
        """The context positions' logits ``(N, 2, L)`` (row n: start, end over its window), ``L``
        the longest window in the batch; positions past a row's window are ``MASKED_LOGIT``.
        Differentiable (a gather)."""
        starts = torch.tensor([f.context_start for f in features], device=start_logits.device)
        lengths = torch.tensor([f.context_len for f in features], device=start_logits.device)
        pos = torch.arange(int(lengths.max()), device=start_logits.device)
        index = (starts[:, None] + pos[None, :]).clamp_max(start_logits.shape[1] - 1)
        both = torch.stack([start_logits.gather(1, index), end_logits.gather(1, index)], dim=1)
        return both.masked_fill((pos[None, :] >= lengths[:, None])[:, None, :], MASKED_LOGIT)

    def context_logits(self, features: Sequence[QAFeature]) -> list[np.ndarray]:
        """Per feature, its ``(2, context_len)`` float64 start/end logits, in input order."""
        out: list[np.ndarray] = [np.empty(0)] * len(features)
        order = np.argsort([len(f.inputs["input_ids"]) for f in features], kind="stable")
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), autocast(self.precision, self.device):
                for first in range(0, len(order), self.batch_size):
                    idx = order[first:first + self.batch_size]
                    batch = [features[i] for i in idx]
                    output = self.model(**self.pad(batch))
                    logits = self.gather_context(output.start_logits, output.end_logits, batch)
                    logits = logits.double().cpu().numpy()
                    for row, i in enumerate(idx):
                        out[i] = logits[row, :, :features[i].context_len]
        finally:
            self.model.train(was_training)
        return out

    # -- distributions -------------------------------------------------------------------------

    def span_distributions(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[SpanDistribution]:
        """For each ``(context, [clean question, rewrite_1, ...])``, the variants' distributions
        over the clean question's ``top_n`` spans and "other" (one model pass for all items;
        a question repeated within an item is run once)."""
        slots: dict[tuple[str, str], int] = {}
        rows = [[slots.setdefault((context, q), len(slots)) for q in questions]
                for context, questions in items]
        if any(not r for r in rows):
            raise SUAInputError("every QA item needs at least one question (the clean one first)")
        features = self.encode(list(slots))
        logits = self.context_logits(features)
        return [span_distribution(features[r[0]].window, np.stack([logits[i][0] for i in r]),
                                  np.stack([logits[i][1] for i in r]), top_n=self.top_n,
                                  max_answer_tokens=self.max_answer_tokens)
                for r in rows]

    def answer(self, questions: Sequence[str], contexts: Sequence[str]) -> list[str]:
        """The most probable span of each context for its question."""
        if len(questions) != len(contexts):
            raise SUAInputError(f"{len(questions)} questions but {len(contexts)} contexts")
        dists = self.span_distributions([(c, [q]) for q, c in zip(questions, contexts, strict=True)])
        return [d.predictions[0] for d in dists]


def _load_qa_model(source: str, device: torch.device, *, revision: str | None = None) -> torch.nn.Module:
    from transformers import AutoModelForQuestionAnswering

    kwargs = {"attn_implementation": "eager"} if device.type == "cpu" else {}
    if revision is not None:
        kwargs["revision"] = revision
    return _from_pretrained(AutoModelForQuestionAnswering, source, **kwargs)
