"""Label scoring throughput of the causal-LM classifier: batched vs one call per (input, label) pair.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/bench_lm_labels.py [--n 32] [--task ag_news] [--threads 1]``

The offline SmolLM2-135M-Instruct scores every label of N inputs (AG News texts with the 4-label
``ag_news`` template, or SNLI pairs with the 3-label ``nli`` template) three ways, side by side:

1. ``per pair``: one forward over prompt ⊕ continuation per (input, label) pair — what a plain
   implementation of the lm-evaluation-harness convention does;
2. ``per pair, API``: ``HFCausalLM.loglikelihoods`` called once per pair (batch of one);
3. ``batched``: ``LMClassifier.label_loglikelihoods`` on all N inputs at once (batches of
   ``--batch-size`` prompts, each prompt run once for all its labels).

Runs alternate and the best of ``--repeats`` is kept for each (the machine is shared). The
largest difference between the batched and the per-pair log-likelihoods is printed too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import transformers

from sua.eval.data import default_data_dir
from sua.io import iter_examples
from sua.models import ModelOptions
from sua.models.causal_lm import LMClassifier
from sua.models.hf_causal import HFCausalLM

TASKS = {"ag_news": ("topic/ag_news/test.jsonl", "text", None),
         "nli": ("nli/snli/dev.jsonl", "premise", "hypothesis")}


def per_pair_forward(lm: HFCausalLM, requests) -> list[float]:
    """One unbatched forward over prompt ⊕ continuation per pair."""
    out = []
    with torch.inference_mode():
        for prompt, continuation in requests:
            context, cont = lm.encode_pair(prompt, continuation)
            logits = lm.model(torch.tensor([list(context + cont)])).logits[0].double()
            logp = torch.log_softmax(logits[len(context) - 1:-1], dim=-1)
            out.append(float(logp.gather(-1, torch.tensor(cont)[:, None]).sum()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=32, help="inputs")
    parser.add_argument("--task", choices=sorted(TASKS), default="ag_news")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is fastest on a busy 2-core machine)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()

    path, text_field, pair_field = TASKS[args.task]
    inputs = [ex.model_input() for ex in iter_examples(default_data_dir() / path, text_field=text_field,
                                                       pair_field=pair_field, label_field=None, limit=args.n)]
    lm = HFCausalLM(options=ModelOptions(batch_size=args.batch_size, device="cpu"))
    clf = LMClassifier(lm, args.task)
    requests = [(clf.template.render(x), c) for x in inputs for c in clf.template.choices.values()]
    runs = {
        "per pair": lambda: per_pair_forward(lm, requests),
        "per pair, API": lambda: [lm.loglikelihoods([r])[0].logprob for r in requests],
        "batched": lambda: clf.label_loglikelihoods(inputs)[0].ravel().tolist(),
    }
    best = dict.fromkeys(runs, float("inf"))
    values = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            values[name] = np.asarray(run())
            best[name] = min(best[name], time.perf_counter() - start)

    n_tokens = np.mean([len(lm.encode_pair(p, c)[0]) for p, c in requests])
    print(f"SmolLM2-135M-Instruct (fp32, CPU, {args.threads} thread(s)), task {args.task}: {len(inputs)} "
          f"inputs x {len(clf.labels)} labels = {len(requests)} pairs, prompts {n_tokens:.0f} tokens on "
          f"average, best of {args.repeats}")
    print(f"{'method':<16}{'seconds':>9}{'pairs/s':>10}{'speed-up':>10}")
    for name in runs:
        print(f"{name:<16}{best[name]:>9.2f}{len(requests) / best[name]:>10.1f}"
              f"{best['per pair'] / best[name]:>9.1f}x")
    gap = np.abs(values["batched"] - values["per pair"]).max()
    print(f"max |batched - per pair| log-likelihood: {gap:.2e}")


if __name__ == "__main__":
    main()
