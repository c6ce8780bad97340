"""How the explorer page holds up at 10,000 inputs: file size, load, sort and open times.

Run: ``PYTHONPATH=src python benchmarks/bench_explorer.py [--n 10000] [--k 8]``

Builds N score records with K rewrites each (sentence-length texts, one word edited per rewrite,
seeded), writes the page with :func:`sua.eval.explorer.write_explorer`, opens it in Debian's
headless Chromium (tests/chromium.py) and times, inside the page, the first render (navigation
start to the page's ``ready`` mark), a sort by S, and opening a row. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chromium import Chromium  # noqa: E402

from sua.eval.explorer import write_explorer  # noqa: E402

WORDS = ("a man woman child dog plays runs sits reads near the park street beach with red blue "
         "small old young two people guitar book ball water while outside inside").split()


def records(n: int, k: int, seed: int = 0) -> list[dict]:
    """N plausible score records (classifier format), K one-word rewrites each."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        words = list(rng.choice(WORDS, size=rng.integers(6, 14)))
        p = rng.dirichlet(np.ones(3))
        perts = []
        for _ in range(k):
            edited = list(words)
            edited[rng.integers(len(edited))] = str(rng.choice(WORDS))
            perts.append({"text": " ".join(edited), "kind": "synonym", "family": "token", "params": {},
                          "divergence": float(rng.exponential(0.01)), "prediction": "entailment",
                          "probs": p.tolist(), "correct": bool(rng.random() < 0.8)})
        s = float(np.mean([q["divergence"] for q in perts]))
        h = float(-(p * np.log(p)).sum())
        out.append({"id": f"in-{i}", "prediction": "entailment", "label": "entailment",
                    "correct": bool(rng.random() < 0.8), "probs": p.tolist(), "entropy": h,
                    "max_prob": float(p.max()), "confidence": float(p.max()), "sensitivity": s,
                    "sensitivity_worst": max(q["divergence"] for q in perts), "sua": s - h,
                    "ambiguity": 0.0, "signature": "stable", "perturbations": perts, "extra": {},
                    "text": " ".join(words)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scores = Path(tmp) / "scores.jsonl"
        scores.write_text("".join(json.dumps(r) + "\n" for r in records(args.n, args.k)), encoding="utf-8")
        start = time.perf_counter()
        page = write_explorer(scores)
        write_s = time.perf_counter() - start
        with Chromium() as browser:
            wall = browser.goto(page)
            ready = browser.eval("document.body.dataset.ready") == "1"
            render_ms = browser.eval("performance.now()") if ready else None
            sort_ms = browser.eval("(() => { const t = performance.now();"
                                   "document.querySelector('#head th[data-key=\"S\"]').click();"
                                   "return performance.now() - t; })()")
            open_ms = browser.eval("(() => { const t = performance.now();"
                                   "document.querySelector('#body tr.row').click();"
                                   "return performance.now() - t; })()")
            errors = browser.errors
        print(json.dumps({"n": args.n, "k": args.k, "page_mb": round(page.stat().st_size / 2**20, 2),
                          "write_s": round(write_s, 2), "load_wall_s": round(wall, 2),
                          "ready_ms": round(render_ms or -1), "sort_by_s_ms": round(sort_ms),
                          "open_row_ms": round(open_ms), "script_errors": errors}))


if __name__ == "__main__":
    main()
