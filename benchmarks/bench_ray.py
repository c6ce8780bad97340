"""`sua score` on the local engine against `--engine ray` with 1 and 2 model actors.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/bench_ray.py [--n 2000] [--k 8] [--model DIR]``

The same N SNLI pairs are scored into a fresh file by each engine (default model: the offline
MiniLM with a seeded 3-way head, saved to a temporary folder), one after the other, so the
ratios are measured side by side on a shared machine. Printed: the fixed cost of starting a
local Ray instance (``ray.init``), wall time and throughput per engine (Ray's include starting
the actors and loading the model in each), the ratios to the local engine and the scaling
efficiency of 2 actors over 1, and the largest probability difference from the local records.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _model_dir(tmp: Path) -> str:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sua.models import default_backbone_path

    labels = ["entailment", "neutral", "contradiction"]
    torch.manual_seed(0)
    net = AutoModelForSequenceClassification.from_pretrained(
        default_backbone_path(), num_labels=3, id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)}, attn_implementation="eager")
    net.save_pretrained(tmp / "model")
    AutoTokenizer.from_pretrained(default_backbone_path()).save_pretrained(tmp / "model")
    return str(tmp / "model")


def _records(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--model", help="classifier folder (default: seeded MiniLM)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import ray
    from transformers.utils import logging

    from sua.distributed import RayScoringEngine
    from sua.eval.data import default_data_dir
    from sua.models import ModelOptions, load_model
    from sua.perturb import TokenPerturber
    from sua.scoring import Fields, SUAScorer

    logging.set_verbosity_error()
    data = default_data_dir() / "nli/snli/dev.jsonl"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        make_model = functools.partial(load_model, args.model or _model_dir(tmp),
                                       options=ModelOptions(batch_size=args.batch_size, max_length=128))
        scorer = SUAScorer(make_model(), TokenPerturber(), k=args.k, chunk_size=512)

        def run(name: str, engine: RayScoringEngine | None) -> float:
            start = time.perf_counter()
            fields = Fields(text_field="premise", pair_field="hypothesis")
            scorer.score_file(data, tmp / f"{name}.jsonl", fields, limit=args.n, progress=False,
                              engine=engine)
            return time.perf_counter() - start

        cpus = os.cpu_count() or 1
        print(f"{args.n} inputs, K={args.k}, {cpus} CPUs; load average {os.getloadavg()[0]:.1f}")
        seconds = {"local": run("local", None)}
        start = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        startup = time.perf_counter() - start
        for workers in (1, 2):
            seconds[f"ray-{workers}"] = run(f"ray-{workers}", RayScoringEngine(
                make_model, num_workers=workers, batch_size=args.batch_size))
        ray.shutdown()

        local = _records(tmp / "local.jsonl")
        print(f"ray.init (local instance): {startup:.1f} s")
        print(f"{'engine':8s} {'seconds':>8s} {'inputs/s':>9s} {'vs local':>9s} {'max |dp|':>9s}")
        for name, sec in seconds.items():
            other = _records(tmp / f"{name}.jsonl")
            assert other.keys() == local.keys(), f"{name}: different ids"
            dp = max(float(np.max(np.abs(np.subtract(other[i]["probs"], local[i]["probs"])))) for i in local)
            print(f"{name:8s} {sec:8.1f} {args.n / sec:9.1f} {seconds['local'] / sec:9.2f} {dp:9.1e}")
        print(f"scaling efficiency of 2 actors over 1: {seconds['ray-1'] / seconds['ray-2'] / 2:.2f}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
