"""Adversarial searches one input at a time against the same searches run in lockstep.

Run::

    PYTHONPATH=src python benchmarks/bench_adversarial.py --model MODEL_DIR [--n 64] [--repeats 2]

MODEL_DIR is a fine-tuned NLI classifier (e.g. a unit's ``model/`` under ``runs/ev``). On the
first N SNLI test pairs the hypothesis is searched against it (default budget, default
constraints, bf16 where native), once with a :meth:`AdversarialPerturber.propose` call per input
and once with one :meth:`AdversarialPerturber.search_many` call, alternately, ``--repeats`` times,
each on a fresh perturber and a fresh sentence embedder (cold caches; WordNet is tagged before the
clock starts). Prints the milliseconds per input of each side, their ratio per repeat, how many
inputs got the same proposal texts in the same order, and the largest difference in a shared
proposal's divergence D (the model's and the embedder's outputs move in their last bits with the
batch they are computed in, which can reorder near ties).
"""

from __future__ import annotations

import argparse
import time
from itertools import islice

from sua.eval.data import default_data_dir
from sua.io import read_jsonl
from sua.models.loading import load_model
from sua.models.options import ModelOptions
from sua.perturb import AdversarialPerturber, EmbeddingSimilarity, MaxModifiedWords
from sua.perturb.constraints import SentenceEmbedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    model = load_model(args.model, options=ModelOptions(precision="bf16"))
    rows = [row for _, row in islice(read_jsonl(default_data_dir() / "nli/snli/test.jsonl"), args.n)]
    premise = {row["id"]: row["premise"] for row in rows}
    requests = [(row["hypothesis"], row["id"], 0) for row in rows]

    def adversary() -> AdversarialPerturber:
        constraints = [EmbeddingSimilarity(0.8, SentenceEmbedder()), MaxModifiedWords(max_fraction=0.5)]
        found = AdversarialPerturber(model, constraints=constraints,
                                     to_model_input=lambda i, h: (premise[i], h))
        found.prepare([text for text, _, _ in requests])
        return found

    adversary().search_many(requests[:2])  # load the models and WordNet before the clock
    print(f"{len(requests)} SNLI test hypotheses searched against {args.model}")
    print(f"{'repeat':>6}{'alone ms/input':>16}{'lockstep ms/input':>19}{'ratio':>8}{'same texts':>16}"
          f"{'max |ΔD|':>12}")
    for repeat in range(args.repeats):
        alone_adversary, many_adversary = adversary(), adversary()
        start = time.perf_counter()
        alone = [alone_adversary.propose(t, 10**6, input_id=i, seed=s) for t, i, s in requests]
        t_alone = time.perf_counter() - start
        start = time.perf_counter()
        together = many_adversary.search_many(requests)
        t_many = time.perf_counter() - start
        same = sum([p.text for p in a] == [p.text for p in b] for a, b in zip(alone, together, strict=True))
        drift = max((abs(p.params["divergence"] - q.params["divergence"]) for a, b in zip(alone, together)
                     for p, q in zip(a, b) if p.text == q.text), default=0.0)
        print(f"{repeat:>6}{1e3 * t_alone / len(requests):>16.0f}{1e3 * t_many / len(requests):>19.0f}"
              f"{t_alone / t_many:>8.2f}{f'{same} / {len(requests)}':>16}{drift:>12.1e}")


if __name__ == "__main__":
    main()
