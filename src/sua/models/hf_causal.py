"""A Hugging Face causal LM as a backend: continuation log-likelihoods and sampled answers.

Log-likelihoods (the lm-evaluation-harness convention): the prompt's trailing whitespace moves
to the continuation, ``cont = tok(prompt + continuation)[len(tok(prompt)):]`` and

    log p(cont | prompt) = Σ_t log softmax(f(prompt ⊕ cont_{<t}))[cont_t].

Requests are grouped by prompt, so a prompt is run once whatever the number of labels, and
prompts that begin alike (one premise with several hypotheses, an input and its K rewrites) run
that beginning once too (:func:`prefix_groups`): one forward over the shared beginnings of a
batch of groups gives a key/value cache, repeated per prompt; one forward over the rest of every
prompt, left-padded, on that cache (vocabulary logits at the last position only) gives every
label's first-token log-probability; the remaining continuation tokens of all (prompt, label)
pairs go through a last forward on that cache, repeated per label. Single-token labels need no
last pass, prompts that share nothing no first. Positions and attention masks make each row see
exactly its own prompt, so the numbers are those of one unpadded forward per pair (up to float
rounding). On a CPU this matters: a forward streams every weight once, so fewer, fuller forwards
over fewer tokens are what make scoring fast.

Generation runs the prompt once, repeats its cache for the M samples (and the greedy answer)
and decodes them together, token by token, with temperature and nucleus (top-p) sampling from a
``torch.Generator`` seeded by :func:`~sua.models.generation.prompt_seed`. Prompts are run in
blocks of ``prefix_block`` tokens and the cache at each block boundary is kept (the last
``prefix_cache`` of them), so prompts that share a beginning — one context asked K rephrased
questions — run that beginning once. The blocks are the same whether a boundary was cached or
not, so the numbers do not depend on which prompts came before.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from sua.errors import SUAInputError
from sua.models.causal_lm import Continuation
from sua.models.generation import Generation, SamplingConfig, cut_at_stop, prompt_seed
from sua.models.lm_loading import load_causal_lm
from sua.models.options import ModelOptions
from sua.models.precision import autocast, effective_precision, prepare_model
from sua.models.prompts import Prompt

Ids = tuple[int, ...]


class HFCausalLM:
    """A transformers causal LM (module doc) for :class:`~sua.models.causal_lm.LMClassifier`
    and :class:`~sua.models.generation.AnswerSampler`.

    ``model``: a hub name or folder, a built model (then ``tokenizer`` is required), or ``None``
    for the offline default SmolLM2-135M-Instruct (:func:`~sua.models.lm_loading.default_causal_lm_path`).
    ``options`` (:class:`~sua.models.options.ModelOptions`) holds ``device``, ``precision``
    (fp32, bf16: autocast, int8: dynamic quantisation of the linear layers on the CPU; see
    :mod:`sua.models.precision`), ``batch_size`` (default 4), ``max_length`` (default 2048) and
    ``revision``. A forward takes at most ``batch_size`` groups of prompts that share a beginning
    (a prompt that shares nothing is a group of one) and ``batch_size²`` prompts in all (small
    batches suit CPUs, where padding is wasted work; raise it on a GPU); inputs longer than
    ``max_length`` tokens lose their oldest prompt tokens. Chat prompts are formatted with the
    tokenizer's chat template. ``dtype`` casts a loaded model (``"bfloat16"``: faster on CPU,
    less exact). Generation runs prompts in blocks of ``prefix_block`` tokens and keeps the
    cache of the last ``prefix_cache`` block boundaries (module doc).
    """

    def __init__(self, model: str | os.PathLike[str] | torch.nn.Module | None = None, tokenizer: Any = None,
                 *, options: ModelOptions | None = None, dtype: str | None = None, prefix_block: int = 64,
                 prefix_cache: int = 32) -> None:
        opts = (options or ModelOptions()).sized(batch_size=4, max_length=2048)
        if not isinstance(prefix_block, int) or prefix_block < 1:
            raise SUAInputError(f"prefix_block must be a positive integer, got {prefix_block!r}")
        if isinstance(model, torch.nn.Module):
            if tokenizer is None:
                raise SUAInputError("a built model needs its tokenizer: HFCausalLM(model, tokenizer)")
            self.model = model.eval() if opts.device is None else model.to(opts.device).eval()
        else:
            self.model, tokenizer = load_causal_lm(model, device=opts.device, dtype=dtype,
                                                   revision=opts.revision)
        self.model = prepare_model(self.model, opts.precision, next(self.model.parameters()).device)
        self.precision = effective_precision(opts.precision, next(self.model.parameters()).device)
        self.tokenizer = tokenizer
        self.batch_size = int(opts.batch_size)
        self.prefix_block = prefix_block
        self.prefix_cache = prefix_cache
        self._prefixes: OrderedDict[Ids, Any] = OrderedDict()
        self.max_length = int(opts.max_length)
        self.device = next(self.model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        self.eos_ids = {i for i in ([eos] if isinstance(eos, int) else eos or []) + [tokenizer.eos_token_id]
                        if i is not None}

    def __repr__(self) -> str:
        return f"HFCausalLM({getattr(self.model.config, '_name_or_path', '') or type(self.model).__name__!r})"

    # -- prompts -----------------------------------------------------------------------

    def format(self, prompt: Prompt) -> str:
        """The text the model continues: the chat template applied to chat prompts."""
        if not prompt.chat:
            return prompt.text
        if not getattr(self.tokenizer, "chat_template", None):
            raise SUAInputError(f"{self!r} has no chat template, so it cannot take chat prompts; use a "
                                "template with \"chat\": false")
        return self.tokenizer.apply_chat_template(prompt.messages(), add_generation_prompt=True,
                                                  tokenize=False)

    def _encode(self, text: str, chat: bool) -> list[int]:
        # a chat template writes its own special tokens
        return list(self.tokenizer(text, add_special_tokens=not chat)["input_ids"])

    def encode_pair(self, prompt: Prompt, continuation: str) -> tuple[Ids, Ids]:
        """``(prompt ids, continuation ids)`` by the harness's convention (module doc)."""
        context = self.format(prompt)
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        context_ids = self._encode(context, prompt.chat)
        cont_ids = self._encode(context + continuation, prompt.chat)[len(context_ids):]
        if not context_ids or not cont_ids:
            raise SUAInputError(f"cannot score continuation {continuation!r} after prompt {context!r:.80}: "
                                "both must be at least one token long")
        keep = max(self.max_length - len(cont_ids), 1)
        return tuple(context_ids[-keep:]), tuple(cont_ids)

    # -- log-likelihoods ---------------------------------------------------------------

    def loglikelihoods(self, requests: Sequence[tuple[Prompt, str]]) -> list[Continuation]:
        """``log p(continuation | prompt)`` per request, batched with shared prompts (module doc)."""
        encoded = [self.encode_pair(p, c) for p, c in requests]
        by_context: dict[Ids, list[int]] = {}
        for i, (context, _) in enumerate(encoded):
            by_context.setdefault(context, []).append(i)
        out: list[Continuation] = [Continuation(0.0, 0)] * len(requests)
        with torch.inference_mode(), autocast(self.precision, self.device):
            for batch in _batches(prefix_groups(list(by_context), self.batch_size), self.batch_size):
                members = [context for _, group in batch for context in group]
                rows = [(b, i) for b, context in enumerate(members) for i in by_context[context]]
                scores = self._score_batch(batch, [(b, encoded[i][1]) for b, i in rows])
                for (_, i), (logprob, n) in zip(rows, scores, strict=True):
                    out[i] = Continuation(logprob, n)
        return out

    def _left_padded(self, seqs: Sequence[Ids]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, mask)`` of token sequences left-padded to the longest."""
        width = max(len(s) for s in seqs)
        ids = torch.tensor([[self.pad_id] * (width - len(s)) + list(s) for s in seqs], device=self.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self.device)
        return ids, mask

    def _score_batch(self, groups: list[tuple[int, list[Ids]]],
                     rows: list[tuple[int, Ids]]) -> list[tuple[float, int]]:
        """Log-likelihood of each (member index, continuation) row: up to three forwards (module doc).

        ``groups`` are ``(shared, contexts)``: the first ``shared`` tokens of every context of a
        group are the same; they run once per group, and the rest of each context runs on that
        cache. Positions and attention masks make every row see exactly its own context."""
        cache = None
        prefix_mask = torch.zeros((len(groups), 0), dtype=torch.long, device=self.device)
        if any(shared for shared, _ in groups):
            ids, prefix_mask = self._left_padded([group[0][:shared] for shared, group in groups])
            cache = self.model(input_ids=ids, attention_mask=prefix_mask,
                               position_ids=(prefix_mask.cumsum(-1) - 1).clamp_min(0),
                               use_cache=True, logits_to_keep=1).past_key_values
        member_group = torch.tensor([g for g, (_, group) in enumerate(groups) for _ in group],
                                    device=self.device)
        if cache is not None:
            cache.batch_select_indices(member_group)
        ids, suffix_mask = self._left_padded([c[shared:] for shared, group in groups for c in group])
        before = prefix_mask[member_group]
        mask = torch.cat([before, suffix_mask], dim=-1)
        rest = [(r, b, cont) for r, (b, cont) in enumerate(rows) if len(cont) > 1]
        positions = before.sum(-1, keepdim=True) + (suffix_mask.cumsum(-1) - 1).clamp_min(0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                         use_cache=bool(rest), logits_to_keep=1)
        first = torch.log_softmax(out.logits[:, -1].double(), dim=-1)
        totals = [float(first[b, cont[0]]) for b, cont in rows]
        if rest:
            which = torch.tensor([b for _, b, _ in rest], device=self.device)
            cache = out.past_key_values
            cache.batch_select_indices(which)
            steps = max(len(cont) - 1 for _, _, cont in rest)
            inputs = torch.tensor([list(c[:-1]) + [self.pad_id] * (steps + 1 - len(c)) for _, _, c in rest],
                                  device=self.device)
            targets = torch.tensor([list(c[1:]) + [0] * (steps + 1 - len(c)) for _, _, c in rest],
                                   device=self.device)
            valid = torch.tensor([[1] * (len(c) - 1) + [0] * (steps + 1 - len(c)) for _, _, c in rest],
                                 device=self.device)
            lengths = mask[which].sum(-1, keepdim=True)
            logits = self.model(input_ids=inputs, attention_mask=torch.cat([mask[which], valid], dim=-1),
                                position_ids=lengths + torch.arange(steps, device=self.device),
                                past_key_values=cache).logits
            picked = torch.log_softmax(logits.double(), dim=-1).gather(-1, targets[..., None])[..., 0]
            for (r, _, _), extra in zip(rest, (picked * valid).sum(-1).tolist(), strict=True):
                totals[r] += extra
        return [(total, len(cont)) for total, (_, cont) in zip(totals, rows, strict=True)]

    # -- generation --------------------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], *, n: int, sampling: SamplingConfig, seed: int,
                 greedy: bool = False) -> list[list[Generation]]:
        """Per prompt, ``n`` samples (the greedy answer first when ``greedy``), see the module doc."""
        if not isinstance(n, int) or n < 0 or n + greedy < 1:
            raise SUAInputError(f"n (samples per prompt) must be an integer >= 1 (or 0 with greedy), "
                                f"got {n!r}")
        with torch.inference_mode(), autocast(self.precision, self.device):
            return [self._generate_one(p, n, sampling, seed, greedy) for p in prompts]

    def _generate_one(self, prompt: Prompt, n: int, sampling: SamplingConfig, seed: int,
                      greedy: bool) -> list[Generation]:
        budget = max(self.max_length - sampling.max_new_tokens, 1)
        ids = self._encode(self.format(prompt), prompt.chat)[-budget:]
        rows = n + int(greedy)
        rng = torch.Generator(device=self.device).manual_seed(prompt_seed(seed, prompt))
        last, cache = self._prefill(ids)
        cache.batch_select_indices(torch.zeros(rows, dtype=torch.long, device=self.device))
        logits = last.expand(rows, -1)
        is_greedy = torch.tensor([greedy and r == 0 or sampling.temperature == 0 for r in range(rows)],
                                 device=self.device)
        decoded = [_Decoded() for _ in range(rows)]
        active = list(range(rows))
        for _ in range(sampling.max_new_tokens):
            logp = torch.log_softmax(logits.double(), dim=-1)
            entropy = -(logp.exp() * logp).sum(-1)
            chosen = _next_tokens(logp, is_greedy[active], sampling, rng)
            keep = [a for a, row in enumerate(active)
                    if decoded[row].add(self, int(chosen[a]), float(logp[a, chosen[a]]), float(entropy[a]),
                                        sampling.stop)]
            if not keep:
                break
            index = torch.tensor(keep, device=self.device)
            cache.batch_select_indices(index)
            active = [active[a] for a in keep]
            logits = self.model(input_ids=chosen[index][:, None], past_key_values=cache).logits[:, -1]
        return [d.result() for d in decoded]

    def _prefill(self, ids: list[int]) -> tuple[torch.Tensor, Any]:
        """Run a prompt in blocks, from the deepest cached block boundary; ``(last logits, cache)``."""
        block = self.prefix_block
        start = max((b for b in range(block, len(ids), block) if tuple(ids[:b]) in self._prefixes), default=0)
        cache = copy.deepcopy(self._prefixes[tuple(ids[:start])]) if start else None
        for s in range(start, len(ids), block):
            out = self.model(input_ids=torch.tensor([ids[s:s + block]], device=self.device),
                             past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            if s + block < len(ids) and self.prefix_cache:
                self._prefixes[tuple(ids[:s + block])] = copy.deepcopy(cache)
                while len(self._prefixes) > self.prefix_cache:
                    self._prefixes.popitem(last=False)
        if start:
            self._prefixes.move_to_end(tuple(ids[:start]))
        return out.logits[:, -1], cache


class _Decoded:
    """One row being decoded: its tokens, their log-probabilities and entropies, its text."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.logprobs: list[float] = []
        self.entropies: list[float] = []
        self.text = ""
        self.finish = "length"

    def add(self, lm: HFCausalLM, token: int, logprob: float, entropy: float, stop: Sequence[str]) -> bool:
        """Append one token; False when the row is finished (end-of-sequence or a stop string).

        Every generated token is recorded in ``logprobs``/``entropies``, the one that ended the
        answer included (so an empty answer still has one entry)."""
        self.logprobs.append(logprob)
        self.entropies.append(entropy)
        if token in lm.eos_ids:
            self.finish = "stop"
            return False
        self.tokens.append(token)
        text, hit = cut_at_stop(lm.tokenizer.decode(self.tokens, skip_special_tokens=True), stop)
        self.text = text
        if hit:
            self.finish = "stop"
        return not hit

    def result(self) -> Generation:
        return Generation(self.text.strip(), tuple(self.logprobs), tuple(self.entropies), self.finish)


def _next_tokens(logp: torch.Tensor, greedy: torch.Tensor, sampling: SamplingConfig,
                 rng: torch.Generator) -> torch.Tensor:
    """Argmax for greedy rows; for the others a draw from softmax(logp / T) cut to the top-p nucleus
    (the smallest set of most likely tokens whose mass reaches ``top_p``)."""
    chosen = logp.argmax(-1)
    sampled = (~greedy).nonzero()[:, 0]
    if sampled.numel():
        probs = torch.softmax(logp[sampled] / sampling.temperature, dim=-1)
        if sampling.top_p < 1:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            outside = sorted_p.cumsum(-1) - sorted_p >= sampling.top_p
            probs = probs.scatter(-1, order, sorted_p.masked_fill(outside, 0.0))
        chosen[sampled] = torch.multinomial(probs, 1, generator=rng)[:, 0]
    return chosen


def _common_prefix(a: Ids, b: Ids) -> int:
    """The number of leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def prefix_groups(contexts: Sequence[Ids], size: int, min_shared: int = 8) -> list[tuple[int, list[Ids]]]:
    """Distinct contexts grouped by a shared beginning, as ``(shared, contexts)``.

    Contexts are sorted, so those with a common beginning (one premise with several hypotheses,
    a text and its rewrites) are neighbours; a context joins the current group when the group
    then still shares at least ``min_shared`` tokens and that saves tokens overall
    (``g · shared_after > (g − 1) · shared_before`` for a group of ``g``). Every context keeps
    at least one token of its own (its last position gives the next-token distribution). A lone
    context shares nothing (``shared = 0``). Groups are cut into pieces of at most ``size²``
    contexts, ordered by length within a group (less padding); the pieces come back grouped
    ones first, each kind by the length of its longest own part.
    """
    found: list[tuple[int, list[Ids]]] = []
    shared, group = 0, []
    for context in sorted(contexts):
        if group:
            common = min(_common_prefix(group[0][:shared] if len(group) > 1 else group[0], context),
                         len(context) - 1, min(len(c) for c in group) - 1)
            if common >= max(min_shared, 1) and len(group) * common > (len(group) - 1) * shared:
                shared = common
                group.append(context)
                continue
            found.append((shared, group))
        shared, group = 0, [context]
    if group:
        found.append((shared, group))
    pieces = []
    for shared, group in found:
        group.sort(key=len)
        cut = size * size
        pieces += [(shared if len(piece) > 1 else 0, piece)
                   for piece in (group[s:s + cut] for s in range(0, len(group), cut))]
    return sorted(pieces, key=lambda piece: (piece[0] == 0, len(piece[1][-1]) - piece[0]))


def _batches(groups: list[tuple[int, list[Ids]]], size: int) -> list[list[tuple[int, list[Ids]]]]:
    """Groups packed in order into batches of at most ``size`` groups and ``size²`` contexts."""
    batches: list[list[tuple[int, list[Ids]]]] = []
    count = size * size
    for group in groups:
        if len(batches[-1] if batches else ()) >= size or count + len(group[1]) > size * size:
            batches.append([])
            count = 0
        batches[-1].append(group)
        count += len(group[1])
    return batches
