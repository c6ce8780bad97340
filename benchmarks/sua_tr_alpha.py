"""Does SUA-TR lower the held-out sensitivity S, and how much does α matter?

Trains SUA-TR with a given α (the consistency weight) next to the Standard and SUA-TR (α = 1)
units of an existing ``sua reproduce`` run folder — same training file, same training options,
same seeds — scores the run's in-domain test sample with the same K rewrites, and prints mean
S, mean H and accuracy per seed with the ratio S(method) / S(Standard) on identical inputs.

    HF_HUB_OFFLINE=1 python benchmarks/sua_tr_alpha.py --run runs/full --task nli --alpha 10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sua.eval.runner import ExperimentRun
from sua.scoring import SUAScorer
from sua.train import train_model


def summary(records: list[dict]) -> tuple[float, float, float]:
    """Mean S, mean H and accuracy of score records."""
    return tuple(float(np.mean([float(r[key]) for r in records]))  # type: ignore[return-value]
                 for key in ("sensitivity", "entropy", "correct"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a sua reproduce run folder (its profile is reused)")
    parser.add_argument("--task", default="nli")
    parser.add_argument("--alpha", type=float, default=10.0)
    args = parser.parse_args()

    run_dir = Path(args.run)
    profile = json.loads((run_dir / "profile.json").read_text(encoding="utf-8"))
    run = ExperimentRun(run_dir, profile, progress=False)
    task = run.task(args.task)
    n = run.task_size(args.task)["train"]
    k = int(profile["k"])
    n_test = len(run.examples(args.task, "test"))
    print(f"task {args.task}, {n} training examples, test sample of {n_test}, K = {k}, α = {args.alpha}")
    print("seed  method          mean S    mean H   acc    S / S(Standard)")
    ratios = []
    for seed in run.seeds(args.task):
        base = {m: summary(run.scores(args.task, m, seed, "test")) for m in ("standard", "sua-tr")}
        out = run_dir / "extra" / f"{args.task}-sua-tr-alpha{args.alpha:g}-n{n}" / f"seed{seed}"
        model_dir = train_model("nli" if task.pair_field else "classification", "sua-tr",
                                run_dir / "data" / args.task / f"train-n{n}.jsonl", out, labels=task.labels,
                                progress=False, **{**run.train_options(args.task), "seed": seed,
                                                   "alpha": args.alpha})
        scores_file = out / f"test-k{k}-s0.jsonl"
        if not scores_file.exists():
            model = run.predictor(args.task, model_dir, task.split("test"))
            examples = run.examples(args.task, "test")
            perturber = run.perturber(profile["perturber"], model, examples, task)
            scorer = SUAScorer(model, perturber, k=k, seed=0, perturb_field=task.perturb_field)
            rows = [r.to_dict() for r in scorer.score(examples)]
            scores_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        alpha = summary([json.loads(line) for line in scores_file.read_text(encoding="utf-8").splitlines()])
        s0 = base["standard"][0]
        for name, (s, h, acc) in (("standard", base["standard"]), ("sua-tr α=1", base["sua-tr"]),
                                  (f"sua-tr α={args.alpha:g}", alpha)):
            print(f"{seed:<5} {name:<15} {s:.5f}  {h:.4f}  {acc:.3f}  {s / s0:.3f}")
        ratios.append((base["sua-tr"][0] / s0, alpha[0] / s0))
    r = np.asarray(ratios)
    print(f"mean S ratio to Standard over {len(r)} seeds: α=1 {r[:, 0].mean():.3f} ± "
          f"{r[:, 0].std(ddof=1):.3f}, α={args.alpha:g} {r[:, 1].mean():.3f} ± {r[:, 1].std(ddof=1):.3f}")


if __name__ == "__main__":
    main()
