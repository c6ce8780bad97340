"""Mixed-precision candidates against the fidelity goal, and where bf16's error comes from.

Run::

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 python benchmarks/bench_precision_modes.py \\
        --model RUN/model [--n 1000] [--k 8] [--modes fp32,bf16,...] [--noise 0.0005,0.002]

The inputs, rewrites and fidelity figures are those of ``bench_precision.py``: the first ``--n``
SNLI test pairs, each with K token rewrites of the hypothesis (N·(K+1) model inputs), scored by
``SUAScorer`` with the fine-tuned classifier ``--model``; every mode scores the very same
rewrites, one after the other in one process (fp32 first and again last, so drift in the
machine's load shows). Goal (issue #12): >= 2.0x fp32's scoring speed with max |Δp| <= 0.02 and
|ΔAUROC| <= 0.005.

1. Modes (``--modes``; fp32 always runs first and, as ``fp32-again``, last). ``bf16`` is
   ``--precision bf16`` (``torch.autocast``: matrix products in bfloat16, their outputs rounded
   to bfloat16; LayerNorm, softmax and the residual sums stay float32). The others are
   candidates, not options: ``bf16-fp32-out``, bf16 matrix products with float32 outputs
   (oneDNN's ``torch.backends.mkldnn.matmul.fp32_precision = "bf16"``); ``bf16-attn-fp32``,
   bf16 with the self-attention (Q, K, V projections, QKᵀ, softmax, PV) in float32;
   ``bf16-last-fp32``, bf16 with the last two encoder layers, the pooler and the classifier in
   float32; ``fp16``, float16 autocast; ``tf32``, oneDNN's ``"tf32"``. For each: scorer
   inputs/s over fp32's (the mean of its two passes), the distribution over model inputs of
   each input's max |Δp| (median, 99th and 99.9th percentile, max), how many inputs exceed
   0.02 and how many distinct token sequences and SNLI pairs they are (the tokenizer is
   uncased, so rewrites that only change case are the same input to the model), and the
   change in failure AUROC (SUA), mean S and accuracy.
2. Conditioning (``--noise``): fp32 with every ``nn.Linear`` output multiplied by
   (1 + ε·N(0, 1)), by default for ε at a quarter of and at bfloat16's rounding unit
   (2^-9 ≈ 0.002): the max |Δp| an error of that size causes whatever number format makes it.
3. Where the error grows: bf16's relative error (‖Δh‖/‖h‖) after each encoder layer, the pooler
   and the classifier, over every token of the batch holding the worst input and at that
   input's [CLS] position (the only position the classifier reads).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from bench_precision import MAX_DAUROC, MAX_DP, probs_of, summary

from sua.eval.data import default_data_dir
from sua.inputs import Example, ModelInput
from sua.io import iter_examples
from sua.models import HFSequenceClassifier, ModelOptions
from sua.perturb import CachedPerturber, TokenPerturber
from sua.scoring import SUAScorer
from sua.scoring.rewrites import rewritten_inputs


def keep_fp32(model: torch.nn.Module, names: Callable[[str], bool]) -> torch.nn.Module:
    """``model`` with every submodule whose name satisfies ``names`` run in float32 under an
    enclosing autocast (autocast off inside it, its floating-point inputs cast to float32)."""
    for name, module in model.named_modules():
        if name and names(name):
            forward = module.forward

            def fp32_forward(*args, _forward=forward, **kwargs):
                cast = [a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
                with torch.autocast("cpu", enabled=False):
                    return _forward(*cast, **kwargs)

            module.forward = fp32_forward
    return model


@contextlib.contextmanager
def mkldnn_matmul(precision: str) -> Iterator[None]:
    """``torch.backends.mkldnn.matmul.fp32_precision = precision`` for the block."""
    before = torch.backends.mkldnn.matmul.fp32_precision
    torch.backends.mkldnn.matmul.fp32_precision = precision
    try:
        yield
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = before


def linear_noise(model: torch.nn.Module, eps: float, seed: int = 0) -> torch.nn.Module:
    """``model`` with every ``nn.Linear`` output multiplied by (1 + eps·N(0, 1))."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(
                lambda _m, _a, out: out * (1 + eps * torch.randn(out.shape, generator=gen)))
    return model


def bf16() -> contextlib.AbstractContextManager:
    """bfloat16 autocast on the CPU (what ``--precision bf16`` runs under)."""
    return torch.autocast("cpu", dtype=torch.bfloat16)


def fp16() -> contextlib.AbstractContextManager:
    """float16 autocast on the CPU."""
    return torch.autocast("cpu", dtype=torch.float16)


LAST_LAYERS = ("bert.encoder.layer.4", "bert.encoder.layer.5", "bert.pooler", "classifier")
#: name -> (how the fp32 model is changed, the context the scorer runs in).
MODES: dict[str, tuple[Callable[[torch.nn.Module], torch.nn.Module] | None, Callable | None]] = {
    "fp32": (None, None),
    "bf16": (None, bf16),
    "bf16-fp32-out": (None, lambda: mkldnn_matmul("bf16")),
    "bf16-attn-fp32": (lambda m: keep_fp32(m, lambda n: n.endswith("attention.self")), bf16),
    "bf16-last-fp32": (lambda m: keep_fp32(m, lambda n: n in LAST_LAYERS), bf16),
    "fp16": (None, fp16),
    "tf32": (None, lambda: mkldnn_matmul("tf32")),
    "fp32-again": (None, None),
}


def model_inputs(examples: list[Example], perturber: CachedPerturber, k: int) -> list[ModelInput]:
    """The N·(K+1) model inputs in ``probs_of``'s order: each clean input, then its K rewrites."""
    out = []
    for ex in examples:
        out.append(ex.model_input())
        out.extend(rewritten_inputs(ex, perturber, k=k, seed=0)[1])
    return out


def layer_errors(path: str, inputs: list[ModelInput], worst: int) -> list[tuple[str, float, float]]:
    """bf16's relative error per encoder layer, pooler and classifier: over every token of the
    64 inputs of the length-sorted batch holding input ``worst``, and at its [CLS] position."""
    clf = HFSequenceClassifier(path, options=ModelOptions(batch_size=64))
    tokenized = clf.tokenize(inputs)
    order = np.argsort([len(t["input_ids"]) for t in tokenized], kind="stable")
    start = 64 * (int(np.flatnonzero(order == worst)[0]) // 64)
    idx = order[start:start + 64]
    batch, row = clf._pad([tokenized[i] for i in idx]), int(np.flatnonzero(idx == worst)[0])  # noqa: SLF001
    mask = batch["attention_mask"].bool()
    names = [n for n, _ in clf.model.named_modules() if n.count(".") == 3 and ".layer." in n]
    names += ["bert.pooler", "classifier"]

    def outputs(context: Callable | None) -> dict[str, torch.Tensor]:
        seen: dict[str, torch.Tensor] = {}
        hooks = [module.register_forward_hook(
            lambda _m, _a, out, n=n: seen.__setitem__(n, (out if torch.is_tensor(out) else out[0]).float()))
            for n, module in clf.model.named_modules() if n in names]
        with torch.inference_mode(), context() if context else contextlib.nullcontext():
            clf.model(**batch)
        for hook in hooks:
            hook.remove()
        return seen

    exact, low = outputs(None), outputs(bf16)
    rows = []
    for name in names:
        x, y = exact[name], low[name]
        every = (y - x)[mask] if x.dim() == 3 else y - x
        rows.append((name, float(every.norm() / (x[mask] if x.dim() == 3 else x).norm()),
                     float((y[row, 0] - x[row, 0]).norm() / x[row, 0].norm()) if x.dim() == 3
                     else float((y[row] - x[row]).norm() / x[row].norm())))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="fine-tuned NLI classifier folder")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated, from: " + ", ".join(MODES))
    ap.add_argument("--noise", default=f"{2.0 ** -11:.5f},{2.0 ** -9:.5f}",
                    help="comma-separated ε of the conditioning check ('' for none)")
    args = ap.parse_args()
    modes = {m: MODES[m] for m in ["fp32", *args.modes.split(","), "fp32-again"]}
    noise = [float(e) for e in args.noise.split(",") if e]
    torch.set_num_threads(os.cpu_count() or 1)

    examples = list(iter_examples(default_data_dir() / "nli/snli/test.jsonl", text_field="premise",
                                  pair_field="hypothesis", limit=args.n))
    records, seconds = {}, {}
    with tempfile.TemporaryDirectory() as cache:
        perturber = CachedPerturber(TokenPerturber(), cache)
        inputs = model_inputs(examples, perturber, args.k)  # fills the cache: same rewrites for all

        def scorer(model: torch.nn.Module | None = None) -> SUAScorer:
            clf = HFSequenceClassifier(args.model, options=ModelOptions(batch_size=args.batch_size))
            if model is not None:
                clf.model = model(clf.model)
            return SUAScorer(clf, perturber, k=args.k)

        list(scorer().score(examples[:64]))  # warm-up: threads, allocator
        for name, (change, context) in modes.items():
            run = scorer(change)
            with context() if context else contextlib.nullcontext():
                list(run.score(examples[:16]))  # this model's first batches (oneDNN set-up)
                start = time.perf_counter()
                records[name] = list(run.score(examples))
                seconds[name] = time.perf_counter() - start
        for eps in noise:
            records[f"fp32, Linear x (1 + {eps:.5f} N(0,1))"] = list(
                scorer(lambda m, e=eps: linear_noise(m, e)).score(examples))

    n_inputs = len(inputs)
    ref_probs, ref = probs_of(records["fp32"]), summary(records["fp32"])
    fp32_s = (seconds["fp32"] + seconds["fp32-again"]) / 2
    tokens = np.array([" ".join(map(str, t["input_ids"])) for t in
                       HFSequenceClassifier(args.model).tokenize(inputs)])
    pair_of = np.repeat(np.arange(len(examples)), args.k + 1)
    print(f"{len(examples)} SNLI test pairs, K={args.k} ({n_inputs} model inputs), "
          f"{torch.get_num_threads()} threads; fp32 {seconds['fp32']:.1f} s and "
          f"{seconds['fp32-again']:.1f} s (first and last pass)")
    print(f"  {'mode':<32} {'vs fp32':>7} {'max|dp|':>8} {'median':>8} {'p99':>7} {'p99.9':>7} "
          f"{'>0.02':>6} {'distinct':>9} {'dAUROC':>8} {'dS':>9} {'dacc':>7}")
    worst = 0
    for name, recs in records.items():
        stats = summary(recs)
        dp = np.abs(probs_of(recs) - ref_probs).max(axis=-1).ravel()  # per model input
        if name == "bf16":
            worst = int(dp.argmax())
        over = dp > MAX_DP
        speed = f"{fp32_s / seconds[name]:6.2f}x" if name in seconds else f"{'':>7}"
        median, p99, p999 = np.quantile(dp, [0.5, 0.99, 0.999])
        print(f"  {name:<32} {speed} {dp.max():8.4f} {median:8.5f} {p99:7.4f} {p999:7.4f} "
              f"{int(over.sum()):6d} {len(set(tokens[over])):4d}/{len(set(pair_of[over])):<4d} "
              f"{stats['auroc'] - ref['auroc']:+8.4f} {stats['S'] - ref['S']:+9.5f} "
              f"{stats['accuracy'] - ref['accuracy']:+7.3f}")
    print(f"  distinct: token sequences / SNLI pairs among the inputs over {MAX_DP}; goal max|dp| <= "
          f"{MAX_DP}, |dAUROC| <= {MAX_DAUROC}, >= 2.0x")
    print(f"bf16 relative error per layer, batch of the worst bf16 input ({inputs[worst]!r}):")
    print(f"  {'output of':<24} {'all tokens':>10} {'its [CLS]':>10}")
    for name, every, cls in layer_errors(args.model, inputs, worst):
        print(f"  {name:<24} {every:10.2e} {cls:10.2e}")


if __name__ == "__main__":
    main()
