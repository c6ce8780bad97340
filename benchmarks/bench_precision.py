"""Scoring speed and fidelity per inference precision (fp32, bf16, int8), and the cost of Q_x.

Run::

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 python benchmarks/bench_precision.py \\
        --model RUN/model [--n 1000] [--k 8] [--rounds 2] [--perturb-n 100] [--device cpu]

``--model`` is a fine-tuned NLI classifier folder (``sua train --task nli ... --out RUN``).
On the first ``--n`` SNLI test pairs, ``SUAScorer`` scores each input with K token-level
rewrites of the hypothesis (``sua score``'s default family, read from a warm disk cache so
every precision scores the very same rewrites) with the model loaded at each precision. The
precisions run one after the other, round after round, and the best time of ``--rounds`` is
kept for each (the machine is shared and noisy; compare the ratios, not the seconds).

Fidelity against fp32 on the same N·(K+1) model inputs: max |Δp| over every class probability
of every clean and rewritten input (and the 99th percentile over inputs of each one's max),
and the change in mean S, accuracy and failure AUROC (the SUA score ranking the misclassified
inputs, :func:`~sua.measures.ranking.failure_auroc`; the entropy's change is printed beside it).
Goal: a precision >= 2.0x faster than fp32 with max |Δp| <= 0.02 and |ΔAUROC| <= 0.005.

Perturbation cost: the mixture Q_x (paraphrase by back-translation + token edits, no model) at
K on ``--perturb-n`` hypotheses, drawn as the scorer draws them, inputs/s with an empty disk
cache (cold: one text at a time, and with the chunk prepared at once as ``SUAScorer`` does) and
with the filled cache (warm), beside the model's scoring inputs/s.

The line before the last names the precisions within the fidelity goal; the last reads
``best speedup vs fp32: <mode> <ratio>x`` (the fastest precision, whether or not it is).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from sua.eval.data import default_data_dir
from sua.io import iter_examples
from sua.measures.ranking import failure_auroc
from sua.models import HFSequenceClassifier, ModelOptions
from sua.models.precision import PRECISIONS
from sua.perturb import CachedPerturber, TokenPerturber, get_perturber
from sua.scoring import SUAScorer
from sua.scoring.rewrites import prepare_rewrites, rewritten_inputs

MAX_DP, MAX_DAUROC = 0.02, 0.005


def probs_of(records: list) -> np.ndarray:
    """(N, K+1, C): each input's clean probabilities, then its K rewrites'."""
    return np.array([[r.probs] + [p.probs for p in r.perturbations] for r in records])


def summary(records: list) -> dict[str, float]:
    correct = np.array([r.correct for r in records], dtype=bool)
    return {"S": float(np.mean([r.sensitivity for r in records])),
            "accuracy": float(correct.mean()),
            "auroc": failure_auroc(np.array([r.sua for r in records]), ~correct),
            "auroc_H": failure_auroc(np.array([r.entropy for r in records]), ~correct)}


def perturbation_cost(examples: list, k: int) -> dict[str, float]:
    """Seconds for the mixture's K draws of each example's hypothesis as ``SUAScorer`` makes
    them (``prepare_rewrites`` then ``rewritten_inputs``): with an empty disk cache, once one
    text at a time (no ``prepare``) and once prepared for the whole chunk, then with the filled
    cache. A fresh mixture each time (no in-memory translations carried over); the shared
    resources (WordNet, spaCy, GloVe, translation models) are loaded before the clock starts."""
    get_perturber("mixture").perturb("A man is playing a guitar on stage.", k, input_id="warm-up", seed=1)
    times = {}
    with tempfile.TemporaryDirectory() as root:
        for name, cache, prepared in (("cold, one text at a time", "a", False),
                                      ("cold, chunk prepared", "b", True), ("warm", "b", True)):
            perturber = CachedPerturber(get_perturber("mixture"), os.path.join(root, cache))
            start = time.perf_counter()
            if prepared:
                prepare_rewrites(examples, perturber, k=k, seed=0)
            for ex in examples:
                rewritten_inputs(ex, perturber, k=k, seed=0)
            times[name] = time.perf_counter() - start
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="fine-tuned NLI classifier folder")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--perturb-n", type=int, default=100, help="hypotheses for the Q_x cost (0: skip)")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    examples = list(iter_examples(default_data_dir() / "nli/snli/test.jsonl", text_field="premise",
                                  pair_field="hypothesis", limit=args.n))
    modes = [p for p in PRECISIONS if p != "int8" or args.device == "cpu"]
    with tempfile.TemporaryDirectory() as cache:
        perturber = CachedPerturber(TokenPerturber(), cache)
        scorers = {p: SUAScorer(HFSequenceClassifier(args.model, options=ModelOptions(
                                    precision=p, device=args.device, batch_size=args.batch_size)),
                                perturber, k=args.k) for p in modes}
        list(scorers["fp32"].score(examples[:64]))  # warm-up: threads, allocator
        for ex in examples:  # fill the rewrite cache: every precision reads the same rewrites
            perturber.perturb(ex.pair, args.k, input_id=ex.id, seed=0)
        best, records = dict.fromkeys(modes, float("inf")), {}
        for _ in range(args.rounds):
            for mode in modes:
                start = time.perf_counter()
                records[mode] = list(scorers[mode].score(examples))
                best[mode] = min(best[mode], time.perf_counter() - start)

    n_inputs = len(examples) * (args.k + 1)
    ref_probs, ref = probs_of(records["fp32"]), summary(records["fp32"])
    print(f"scoring {len(examples)} SNLI test pairs, K={args.k} ({n_inputs} model inputs), "
          f"{torch.get_num_threads()} threads, device {args.device}, best of {args.rounds} "
          f"alternating rounds")
    print(f"  {'mode':<6} {'inputs/s':>9} {'vs fp32':>8} {'max|dp|':>8} {'p99|dp|':>8} {'dS':>9} {'dacc':>7} "
          f"{'AUROC':>7} {'dAUROC':>8} {'dAUROC(H)':>10}")
    within = {}
    for mode in modes:
        stats = summary(records[mode])
        dp = np.abs(probs_of(records[mode]) - ref_probs).max(axis=-1)  # per model input
        max_dp, p99_dp = float(dp.max()), float(np.quantile(dp, 0.99))
        d_auroc = stats["auroc"] - ref["auroc"]
        ratio = best["fp32"] / best[mode]
        if max_dp <= MAX_DP and abs(d_auroc) <= MAX_DAUROC:
            within[mode] = ratio
        print(f"  {mode:<6} {n_inputs / best[mode]:9.0f} {ratio:7.2f}x {max_dp:8.4f} {p99_dp:8.4f} "
              f"{stats['S'] - ref['S']:+9.5f} {stats['accuracy'] - ref['accuracy']:+7.3f} "
              f"{stats['auroc']:7.4f} {d_auroc:+8.4f} {stats['auroc_H'] - ref['auroc_H']:+10.4f}")
    print(f"  fp32: mean S {ref['S']:.4f}, accuracy {ref['accuracy']:.3f}, failure AUROC of SUA "
          f"{ref['auroc']:.4f} (of H {ref['auroc_H']:.4f}); goal max|dp| <= {MAX_DP}, "
          f"|dAUROC| <= {MAX_DAUROC}")

    if args.perturb_n:
        subset = examples[:args.perturb_n]
        fastest = min(best, key=best.get)
        print(f"perturbation cost: mixture Q_x (back-translation + token edits), K={args.k}, "
              f"{len(subset)} hypotheses, inputs/s")
        for name, seconds in perturbation_cost(subset, args.k).items():
            print(f"  mixture {name:<26} {len(subset) / seconds:8.1f}")
        for mode in dict.fromkeys(["fp32", fastest]):
            print(f"  model scoring, {mode:<20} {len(examples) / best[mode]:8.1f}   (token rewrites, "
                  f"read from the cache)")

    print(f"within the fidelity goal: {', '.join(within)}")
    fastest = min(best, key=best.get)
    print(f"best speedup vs fp32: {fastest} {best['fp32'] / best[fastest]:.2f}x")


if __name__ == "__main__":
    main()
