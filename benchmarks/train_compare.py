"""Standard vs SUA-TR on real NLI data: does SUA-TR lower the sensitivity S on held-out inputs?

Run: ``OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 python benchmarks/train_compare.py [--train-size 3000]
[--eval-size 500] [--epochs 1] [--lr 2e-4] [--k-train 2] [--alpha 1] [--beta 1] [--lam 1]
[--out runs/train_compare]``

1. Train the offline MiniLM backbone with a fresh 3-way head on the first ``--train-size`` SNLI
   dev pairs (SNLI train is not available offline), once with ``standard`` and once with
   ``sua-tr`` (``--k-train`` token-level rewrites of the hypothesis per pair and epoch), one run
   after the other, same seed and hyper-parameters. Each run logs the held-out S/H trajectory
   on the first ``--monitor`` held-out pairs every ``--eval-every`` steps.
2. Score a seeded sample of ``--eval-size`` SNLI test pairs with :class:`~sua.scoring.SUAScorer`
   (K = ``--k`` token-level rewrites of the hypothesis, the same draws for both models) and
   print accuracy, accuracy on the rewrites, mean S, mean H, mean SUA and the flip rate.
A finished run is reused when the script is run again with the same settings.
``OMP_WAIT_POLICY=PASSIVE``: on a shared machine OpenMP's spin-waiting makes a torch step up to
5x slower when other jobs hold the cores (measured: 4-12 s instead of 1.7 s per MiniLM step).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sua.eval.data import default_data_dir
from sua.io import JsonlAppender, iter_examples, read_jsonl
from sua.models import HFSequenceClassifier, ModelOptions
from sua.perturb import TokenPerturber
from sua.scoring import SUAScorer
from sua.train import train_model


def held_out_sample(src: Path, dst: Path, n: int, seed: int) -> None:
    records = [rec for _, rec in read_jsonl(src)]
    pick = np.sort(np.random.default_rng(seed).choice(len(records), size=n, replace=False))
    dst.unlink(missing_ok=True)
    with JsonlAppender(dst) as sink:
        for i in pick:
            sink.write(records[i])


def held_out_metrics(model_dir: Path, data: Path, k: int, lam: float, seed: int) -> dict[str, float]:
    examples = list(iter_examples(data, text_field="premise", pair_field="hypothesis"))
    model = HFSequenceClassifier(str(model_dir), options=ModelOptions(batch_size=64))
    scorer = SUAScorer(model, TokenPerturber(), k=k, lam=lam, seed=seed)
    records = list(scorer.score(examples))
    perturbed_correct = [p.prediction == r.label for r in records for p in r.perturbations]
    flips = [p.prediction != r.prediction for r in records for p in r.perturbations]
    return {"accuracy": float(np.mean([r.correct for r in records])),
            "perturbed_accuracy": float(np.mean(perturbed_correct)),
            "S": float(np.mean([r.sensitivity for r in records])),
            "H": float(np.mean([r.entropy for r in records])),
            "SUA": float(np.mean([r.sua for r in records])),
            "flip_rate": float(np.mean(flips)), "n": len(records)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-size", type=int, default=3000)
    ap.add_argument("--eval-size", type=int, default=500)
    ap.add_argument("--monitor", type=int, default=100)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--k-train", type=int, default=2)
    ap.add_argument("--alpha", type=float, default=1.0, help="SUA-TR consistency weight α")
    ap.add_argument("--beta", type=float, default=1.0, help="SUA-TR alignment weight β")
    ap.add_argument("--lam", type=float, default=1.0, help="λ in L_align and in SUA")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--eval-every", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/train_compare")
    args = ap.parse_args()

    data, out = default_data_dir() / "nli/snli", Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    held_out = out / "held_out.jsonl"
    held_out_sample(data / "test.jsonl", held_out, args.eval_size, args.seed)
    common = {"limit": args.train_size, "epochs": args.epochs, "lr": args.lr, "lam": args.lam,
              "seed": args.seed, "eval_data": held_out, "eval_limit": args.monitor,
              "eval_every": args.eval_every, "eval_k": args.k}
    sua_tr = {"k_train": args.k_train, "alpha": args.alpha, "beta": args.beta}
    results = {}
    for name, extra in (("standard", {}), ("sua-tr", sua_tr)):
        tag = "".join(f"_{key[0]}{value:g}" for key, value in extra.items())  # e.g. _k2_a1_b1
        run_dir = out / f"{name}{tag}_l{args.lam:g}"
        reused = (run_dir / "model" / "config.json").exists()
        t = time.perf_counter()
        model_dir = train_model("nli", name, data / "dev.jsonl", run_dir, **common, **extra)
        train_s = time.perf_counter() - t
        log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
        metrics = held_out_metrics(model_dir, held_out, args.k, args.lam, args.seed)
        results[name] = {"run": str(run_dir), **metrics,
                         "train_seconds": None if reused else round(train_s, 1),
                         "trajectory": [(r["step"], round(r["eval"]["S"], 5), round(r["eval"]["H"], 4))
                                        for r in log if "eval" in r]}
    (out / "summary.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))

    print(f"NLI, MiniLM, {args.train_size} SNLI dev pairs x {args.epochs:g} epochs; held-out: "
          f"{args.eval_size} SNLI test pairs, K={args.k} token rewrites of the hypothesis")
    header = ("method", "acc", "acc(x')", "mean S", "mean H", "SUA", "flips", "train s")
    print("{:<10} {:>6} {:>8} {:>8} {:>7} {:>7} {:>6} {:>8}".format(*header))
    for method, r in results.items():
        seconds = "reused" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"
        print(f"{method:<10} {r['accuracy']:6.3f} {r['perturbed_accuracy']:8.3f} {r['S']:8.4f} "
              f"{r['H']:7.3f} {r['SUA']:7.3f} {r['flip_rate']:6.3f} {seconds:>8}")
    s_std, s_tr = results["standard"]["S"], results["sua-tr"]["S"]
    print(f"mean S, SUA-TR / Standard = {s_tr / s_std:.3f}")
    for method, r in results.items():
        steps = ", ".join(f"{step}: S={s:.4f} H={h:.3f}" for step, s, h in r["trajectory"])
        print(f"trajectory {method} (held-out first {args.monitor}): {steps}")
    print(f"logs: {', '.join(r['run'] for r in results.values())} (train_log.jsonl); "
          f"summary: {out}/summary.json")


if __name__ == "__main__":
    main()
