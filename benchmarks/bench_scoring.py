"""Scoring throughput against the bare model forward, and streaming memory.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/bench_scoring.py [--n 256] [--model DIR]``

1. Throughput: ``SUAScorer`` on N SNLI pairs with K=8 token-level perturbations (perturbing,
   deduplicating, tokenising, forward, measures, records) against the bare model forward over
   the same (K+1)·N inputs, pre-tokenised outside the timer. Runs alternate and the best of
   ``--repeats`` is kept for each, since this machine is shared and noisy.
2. Memory: peak traced Python/numpy allocation (tracemalloc) and peak RSS growth while
   ``score_file`` streams 1,000 and then 10,000 inputs through a cheap model, each in a fresh
   process so the numbers do not mix.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch
import transformers

from sua.eval.data import default_data_dir
from sua.io import iter_examples
from sua.models import CallableModel, HFSequenceClassifier, ModelOptions, default_backbone_path
from sua.perturb import TokenPerturber
from sua.scoring import Fields, SUAScorer

NLI = ("entailment", "neutral", "contradiction")


def snli(n: int):
    path = default_data_dir() / "nli/snli/dev.jsonl"
    return list(iter_examples(path, text_field="premise", pair_field="hypothesis", limit=n))


def throughput(n: int, k: int, repeats: int, model_dir: str | None) -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    transformers.utils.logging.set_verbosity_error()
    if model_dir:
        model = HFSequenceClassifier(model_dir, options=ModelOptions(batch_size=64))
    else:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = default_backbone_path()
        torch.manual_seed(0)
        net = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=3, attn_implementation="eager")
        model = HFSequenceClassifier(net, AutoTokenizer.from_pretrained(path), labels=list(NLI),
                                     options=ModelOptions(batch_size=64))
    examples = snli(n)
    scorer = SUAScorer(model, TokenPerturber(), k=k, chunk_size=n)
    perturber = TokenPerturber()
    all_inputs = []
    for ex in examples:
        all_inputs.append(ex.model_input())
        all_inputs += [(ex.text, d.text) for d in perturber.perturb(ex.pair, k, input_id=ex.id, seed=0)]
    tokenized = model.tokenize(all_inputs)
    distinct = list(dict.fromkeys(all_inputs))
    tokenized_distinct = model.tokenize(distinct)

    bare, bare_distinct, full = [], [], []
    model.logits_from_tokenized(tokenized)  # warm-up
    for _ in range(repeats):
        for times, run in ((bare, lambda: model.logits_from_tokenized(tokenized)),
                           (bare_distinct, lambda: model.logits_from_tokenized(tokenized_distinct)),
                           (full, lambda: list(scorer.score(examples)))):
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
    tb, td, tf = min(bare), min(bare_distinct), min(full)
    total = len(all_inputs)
    print(f"throughput: N={n}, K={k}, (K+1)N={total} inputs ({len(distinct)} distinct), best of {repeats}")
    print(f"  bare forward, all (K+1)N pre-tokenised:   {tb:6.2f} s  ({total / tb:.0f} inputs/s)")
    print(f"  bare forward, distinct pre-tokenised:     {td:6.2f} s")
    print(f"  SUAScorer end to end (perturb+dedup+tokenise+forward+measures): {tf:6.2f} s "
          f"({total / tf:.0f} inputs/s)")
    print(f"  ratio scorer / bare forward over the same (K+1)N inputs = {tb / tf:.3f}  (target >= 0.85)")
    print(f"  ratio scorer / bare forward over the distinct inputs    = {td / tf:.3f}  "
          "(pure overhead, dedup benefit removed)")


def _cheap_probs(inputs: list) -> np.ndarray:
    lengths = np.array([len(x[1]) if isinstance(x, tuple) else len(x) for x in inputs], float)
    logits = np.stack([np.sin(lengths), np.cos(lengths), np.zeros_like(lengths)], axis=1)
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True)


def memory_child(n: int) -> None:
    """Run in a fresh process: stream n SNLI inputs to a file, print peak memory as JSON."""
    data = default_data_dir() / "nli/snli/dev.jsonl"
    scorer = SUAScorer(CallableModel(_cheap_probs, list(NLI)), TokenPerturber(), k=8, chunk_size=256)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp:
        tracemalloc.start()
        fields = Fields(text_field="premise", pair_field="hypothesis")
        scorer.score_file(data, os.path.join(tmp, "s.jsonl"), fields, limit=n, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "traced_peak_bytes": peak, "rss_growth_kib": rss1 - rss0,
                      "rss_peak_kib": rss1}))


def memory() -> None:
    res = {}
    for n in (1000, 10000):
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(n)], check=True,
                             capture_output=True, text=True).stdout
        res[n] = json.loads(out.strip().splitlines()[-1])
    a, b = res[1000], res[10000]
    print("memory (score_file streaming, K=8, chunk 256):")
    for r in (a, b):
        print(f"  n={r['n']:>6}: traced peak {r['traced_peak_bytes'] / 2**20:.1f} MiB, "
              f"process peak RSS {r['rss_peak_kib'] / 1024:.0f} MiB")
    print(f"  ratio 10k/1k traced peak = {b['traced_peak_bytes'] / a['traced_peak_bytes']:.3f}, "
          f"peak RSS = {b['rss_peak_kib'] / a['rss_peak_kib']:.3f}   (target <= 1.10)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", help="fine-tuned model folder (default: MiniLM + fresh head)")
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    throughput(args.n, args.k, args.repeats, args.model)
    if not args.skip_memory:
        memory()


if __name__ == "__main__":
    main()
