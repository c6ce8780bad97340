"""Cost of one SUA-TR training step relative to a Standard step, in fp32 and bf16, and of an epoch.

Run: ``OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 python benchmarks/bench_train_step.py
[--batch-size 32] [--ks 2 4] [--rounds 7] [--precisions fp32 bf16] [--epoch-n 512]``

One optimizer step = forward(s) + backward + gradient clipping + AdamW, on the MiniLM backbone
with a 3-way head and the same SNLI batch for every method (rewrites are drawn and tokenised
outside the timer: they are drawn once per epoch in training). Methods run alternately, round
after round, and the best of ``--rounds`` is kept for each, since this machine is shared and
noisy. With the paper's stop-gradient the K·B rewrites take one forward pass without a graph,
so the target is ``SUA-TR / Standard <= 1 + 0.4·K``. ``--with-graph`` adds the
``stop_grad="clean"`` variant (one mixed batch with a graph) for comparison.
``OMP_WAIT_POLICY=PASSIVE`` keeps OpenMP from spin-waiting when other jobs share the cores.

Every batch is padded to its own longest pair (dynamic padding; no step pads to a fixed
``max_length``). Each method runs in every ``--precisions`` (``bf16``: autocast of the forward
passes, :class:`~sua.train.config.TrainConfig` ``precision``), and the bf16/fp32 ratio is printed.

Epoch: ``--epoch-n`` SNLI dev pairs, one epoch of Standard and of SUA-TR (K = the first of
``--ks``, rewrites drawn outside the timer), as the trainer batches them (``BatchPlan``), in
four settings: fp32 without length buckets (the trainer before this benchmark's change, "today"),
fp32 with buckets, bf16 without, bf16 with; each setting's best of ``--epoch-rounds`` and its
speed-up over today. ``--epoch-n 0`` skips it.
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
from sua.train.batches import BatchPlan
from sua.train.rewrites import draw_rewrites

NLI = ("entailment", "neutral", "contradiction")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--ks", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--with-graph", action="store_true")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--epoch-n", type=int, default=512)
    ap.add_argument("--epoch-rounds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    examples = list(iter_examples(default_data_dir() / "nli/snli/dev.jsonl", text_field="premise",
                                  pair_field="hypothesis", limit=args.batch_size))
    model, tokenizer = load_backbone(default_backbone_path(), NLI, seed=0)
    configs = {}
    for precision in args.precisions:
        configs[f"standard {precision}"] = make_config("standard", precision=precision, max_length=128)
        for k in args.ks:
            configs[f"sua-tr K={k} {precision}"] = make_config("sua-tr", k_train=k, precision=precision,
                                                                max_length=128)
            if args.with_graph:
                configs[f"sua-tr K={k} (graph) {precision}"] = make_config(
                    "sua-tr", k_train=k, stop_grad="clean", precision=precision, max_length=128)
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

    first = next(iter(runs))
    lengths = [len(f["input_ids"]) for f in runs[first][1]]
    print(f"train step, MiniLM + 3-way head, batch {args.batch_size} SNLI pairs "
          f"(tokens: mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}), "
          f"{torch.get_num_threads()} threads, best of {args.rounds} alternating rounds")
    for name, seconds in best.items():
        cfg = configs[name]
        base = best[f"standard {cfg.precision}"]
        target = f"target <= {1 + 0.4 * cfg.k_train:.1f}" if cfg.method == "sua-tr" else ""
        vs_fp32 = ""
        if cfg.precision != "fp32" and name.replace(cfg.precision, "fp32") in best:
            vs_fp32 = f"fp32/{cfg.precision} {best[name.replace(cfg.precision, 'fp32')] / seconds:4.2f}x"
        print(f"  {name:<28} {seconds:6.3f} s   vs standard {seconds / base:5.2f}  {target:<14} {vs_fp32}")
    if args.epoch_n:
        epoch(model, tokenizer, args.epoch_n, args.batch_size, args.ks[0], args.epoch_rounds)


def epoch(model: torch.nn.Module, tokenizer: object, n: int, batch_size: int, k: int, rounds: int) -> None:
    """One epoch of Standard and SUA-TR in four settings (module doc)."""
    examples = list(iter_examples(default_data_dir() / "nli/snli/dev.jsonl", text_field="premise",
                                  pair_field="hypothesis", limit=n))
    labels = torch.tensor([NLI.index(ex.label) for ex in examples])
    rows = draw_rewrites(TokenPerturber(), examples, k, seed=0)
    settings = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    best: dict[tuple[str, str, bool], float] = {}
    for _ in range(rounds):
        for method in ("standard", "sua-tr"):
            for precision, buckets in settings:
                cfg = make_config(method, precision=precision, length_buckets=buckets, max_length=128,
                                  batch_size=batch_size, **({"k_train": k} if method == "sua-tr" else {}))
                trainer = SUATrainer(model, tokenizer, NLI, cfg, progress=False)
                clean = trainer.classifier.tokenize([ex.model_input() for ex in examples])
                flat = trainer.classifier.tokenize([x for row in rows for x in row])
                rewrites = [flat[i * k:(i + 1) * k] for i in range(len(rows))]
                plan = BatchPlan(len(examples), batch_size, 1, 1.0, 0,
                                 tuple(len(f["input_ids"]) for f in clean) if buckets else None)
                model.train()
                start = time.perf_counter()
                for step in range(plan.n_steps):
                    for _, idx in plan.micro_batches(step):
                        pert = [rewrites[i] for i in idx] if method == "sua-tr" else None
                        trainer.batch_loss([clean[i] for i in idx], pert, labels[idx]).total.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                key = (method, precision, buckets)
                best[key] = min(best.get(key, float("inf")), time.perf_counter() - start)
    print(f"epoch of {len(examples)} SNLI dev pairs, batch {batch_size}, best of {rounds} alternating rounds")
    for method in ("standard", "sua-tr"):
        today = best[(method, "fp32", False)]
        for precision, buckets in settings:
            seconds = best[(method, precision, buckets)]
            name = f"{method}{f' K={k}' if method == 'sua-tr' else ''} {precision} " \
                   f"{'buckets' if buckets else 'no buckets'}"
            print(f"  {name:<32} {seconds:7.2f} s   speed-up vs today (fp32, no buckets) "
                  f"{today / seconds:4.2f}x")


if __name__ == "__main__":
    main()
