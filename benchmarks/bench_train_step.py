"""Cost of one SUA-TR training step relative to a Standard step at the same batch size.

Run: ``OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 python benchmarks/bench_train_step.py
[--batch-size 32] [--ks 2 4] [--rounds 7]``

One optimizer step = forward(s) + backward + gradient clipping + AdamW, on the MiniLM backbone
with a 3-way head and the same SNLI batch for every method (rewrites are drawn and tokenised
outside the timer: they are drawn once per epoch in training). Methods run alternately, round
after round, and the best of ``--rounds`` is kept for each, since this machine is shared and
noisy. With the paper's stop-gradient the K·B rewrites take one forward pass without a graph,
so the target is ``SUA-TR / Standard <= 1 + 0.4·K``. ``--with-graph`` adds the
``stop_grad="clean"`` variant (one mixed batch with a graph) for comparison.
``OMP_WAIT_POLICY=PASSIVE`` keeps OpenMP from spin-waiting when other jobs share the cores.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from sua.eval.data import default_data_dir
from sua.io import iter_examples
from sua.models import default_backbone_path
from sua.perturb import TokenPerturber
from sua.train import SUATrainer, load_backbone, make_config
from sua.train.rewrites import draw_rewrites

NLI = ("entailment", "neutral", "contradiction")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--ks", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--with-graph", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    examples = list(iter_examples(default_data_dir() / "nli/snli/dev.jsonl", text_field="premise",
                                  pair_field="hypothesis", limit=args.batch_size))
    model, tokenizer = load_backbone(default_backbone_path(), NLI, seed=0)
    configs = {"standard": make_config("standard")}
    for k in args.ks:
        configs[f"sua-tr K={k}"] = make_config("sua-tr", k_train=k)
        if args.with_graph:
            configs[f"sua-tr K={k} (graph)"] = make_config("sua-tr", k_train=k, stop_grad="clean")
    runs = {}
    for name, cfg in configs.items():
        trainer = SUATrainer(model, tokenizer, NLI, cfg, progress=False)
        clean = trainer.classifier.tokenize([ex.model_input() for ex in examples])
        rewrites = None
        if trainer.loss.needs_perturbed:
            rows = draw_rewrites(TokenPerturber(), examples, cfg.k_train, seed=0)
            flat = trainer.classifier.tokenize([x for row in rows for x in row])
            rewrites = [flat[i * cfg.k_train:(i + 1) * cfg.k_train] for i in range(len(rows))]
        runs[name] = (trainer, clean, rewrites)
    labels = torch.tensor([NLI.index(ex.label) for ex in examples])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()

    def step(name: str) -> float:
        trainer, clean, rewrites = runs[name]
        t = time.perf_counter()
        trainer.batch_loss(clean, rewrites, labels).total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - t

    for name in runs:  # warm-up
        step(name)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for name in runs:
            best[name] = min(best[name], step(name))

    lengths = [len(f["input_ids"]) for f in runs["standard"][1]]
    print(f"train step, MiniLM + 3-way head, batch {args.batch_size} SNLI pairs "
          f"(tokens: mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}), "
          f"{torch.get_num_threads()} threads, best of {args.rounds} alternating rounds")
    base = best["standard"]
    for name, seconds in best.items():
        cfg = configs[name]
        target = f"target <= {1 + 0.4 * cfg.k_train:.1f}" if cfg.method == "sua-tr" else ""
        print(f"  {name:<22} {seconds:6.3f} s   ratio {seconds / base:5.2f}   {target}")


if __name__ == "__main__":
    main()
