"""Does training on a GPU give the same models as training here, within seed noise?

The evidence issue asks to train units on a GPU when one is at hand, after checking on one unit
that the GPU path gives the same results within seed noise. Two steps:

On the GPU machine (a run folder holding ``data/nli/{train-n8834,validation,test-n1000}.jsonl``,
the files ``sua evidence unit`` writes; the training data set is not needed)::

    PYTHONPATH=src python benchmarks/gpu_training_check.py train RUN_DIR OUT standard at sua-tr

trains NLI seed 0 of each preset exactly as ``sua evidence unit nli:PRESET:0`` does (the evidence
profile, ``ExperimentRun.model_dir``, on ``cuda``) and writes ``OUT/nli-PRESET-seed0.json``: the
training time, the unit's manifest and learning curve, and p(y|x) on the 1,000 in-domain test
pairs (bf16, as scoring runs). Here::

    python benchmarks/gpu_training_check.py compare docs/results/gpu_check

sets each beside the three CPU-trained seeds packed in ``docs/results/evidence``: test accuracy,
entropy's failure AUROC (sklearn), the last validation accuracy of the learning curve, and how
often the GPU model's predictions agree with CPU seed 0's against how often two CPU seeds agree.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

EVIDENCE = Path(__file__).resolve().parents[1] / "docs" / "results" / "evidence"


def train(run_dir: Path, out: Path, presets: list[str]) -> None:
    """Train NLI seed 0 of each preset on cuda and write its check file into ``out``."""
    import torch

    from sua.eval.runner import ExperimentRun, load_profile, train_kind
    from sua.io import iter_examples
    from sua.models import ModelOptions, load_model

    out.mkdir(parents=True, exist_ok=True)
    run = ExperimentRun(run_dir, load_profile("evidence"), data_dir=run_dir / "no-data", progress=False,
                        device="cuda")
    spec = run.task("nli")
    kind = train_kind(spec)
    test = list(iter_examples(run_dir / "data/nli/test-n1000.jsonl", text_field=kind.text_field,
                              pair_field=kind.pair_field, label_field=kind.label_field))
    for preset in presets:
        start = time.perf_counter()
        model_dir = run.model_dir("nli", preset, 0, n_train=8834)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        model = load_model(model_dir, head=spec.kind,
                           options=ModelOptions(device="cuda", precision="bf16", max_length=64))
        probs = model.predict_proba([ex.model_input() for ex in test])
        unit = model_dir.parent
        curve = [json.loads(line) for line in (unit / "train_log.jsonl").read_text().splitlines() if line]
        (out / f"nli-{preset}-seed0.json").write_text(json.dumps({
            "preset": preset, "seed": 0, "device": "cuda", "gpu": torch.cuda.get_device_name(0),
            "train_s": seconds, "manifest": json.loads((unit / "config.json").read_text()), "curve": curve,
            "ids": [ex.id for ex in test], "labels": [ex.label for ex in test],
            "probs": [[round(float(p), 7) for p in row] for row in probs]}))
        print(f"{preset}: trained in {seconds:.1f} s", flush=True)


def _reading(probs: np.ndarray, label: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Accuracy, failure AUROC of the predictive entropy H = -sum p log p, and the predictions."""
    from sklearn.metrics import roc_auc_score

    pred = probs.argmax(1)
    wrong = pred != label
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(1)
    return float((~wrong).mean()), float(roc_auc_score(wrong, entropy)), pred


def _last_validation_accuracy(curve: list[dict]) -> float:
    return [row for row in curve if "eval" in row][-1]["eval"]["accuracy"]


def compare(results: Path) -> None:
    """Print each GPU-trained unit beside the three CPU-trained seeds of its preset."""
    print("preset  | test acc GPU / CPU seeds 0,1,2 | AUROC(H) GPU / CPU | last val acc GPU / CPU "
          "| agreement GPU-CPU0 / CPU pairs | GPU training")
    for path in sorted(results.glob("nli-*-seed0.json")):
        gpu = json.loads(path.read_text())
        preset = gpu["preset"]
        packs = [np.load(EVIDENCE / "units" / "nli" / preset / f"seed{s}" / "test.npz") for s in range(3)]
        if list(packs[0]["ids"]) != gpu["ids"]:
            raise SystemExit(f"{path}: not the packed test items")
        label = packs[0]["label"].astype(int)
        acc, auroc, pred = _reading(np.asarray(gpu["probs"]), label)
        cpu = [_reading(p["probs"].astype(float), label) for p in packs]
        curves = [EVIDENCE / "curves" / f"nli-{preset}-seed{s}.json" for s in range(3)]
        cpu_val = [json.loads(c.read_text())[-1]["accuracy"] for c in curves]
        pairs = [(cpu[i][2] == cpu[j][2]).mean() for i, j in ((0, 1), (0, 2), (1, 2))]
        print(f"{preset:7} | {acc:.3f} / {' '.join(f'{c[0]:.3f}' for c in cpu)} | {auroc:.3f} / "
              f"{' '.join(f'{c[1]:.3f}' for c in cpu)} | {_last_validation_accuracy(gpu['curve']):.3f} / "
              f"{' '.join(f'{v:.3f}' for v in cpu_val)} | {(pred == cpu[0][2]).mean():.3f} / "
              f"{' '.join(f'{a:.3f}' for a in pairs)} | {gpu['train_s']:.0f} s on {gpu['gpu']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    on_gpu = sub.add_parser("train", help="on the GPU machine: train NLI seed 0 of each preset")
    on_gpu.add_argument("run_dir", type=Path)
    on_gpu.add_argument("out", type=Path)
    on_gpu.add_argument("presets", nargs="+")
    here = sub.add_parser("compare", help="here: the GPU units beside the packed CPU seeds")
    here.add_argument("results", type=Path)
    args = parser.parse_args()
    if args.command == "train":
        train(args.run_dir, args.out, args.presets)
    else:
        compare(args.results)


if __name__ == "__main__":
    main()
