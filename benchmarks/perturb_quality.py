"""Perturbation quality per family on SNLI and AG News: acceptance, similarity, label preservation.

Run::

    python benchmarks/perturb_quality.py [--n 500] [--k 8] [--nli-model runs/demo/model] \\
        [--out docs/perturb_quality.md]

Inputs: the first N hypotheses of ``nli/snli/test.jsonl`` (perturbed; the premise is context)
and N AG News texts from ``topic/ag_news/test.jsonl``. AG News has only a test split, so its
7,600 rows are shuffled with ``numpy.random.default_rng(0)``: the first N are the inputs, the
next half of the rest trains the held-out judge and the other half trains the adversarial goal
(TF-IDF 1-2 grams + logistic regression each), so the judge never saw the inputs and is not the
model the search attacked.

Per family, every proposal (``propose(x, K)``) is checked with the default constraints (MiniLM
cosine >= 0.8, at most half the words modified, numbers and negations kept):

- acceptance: valid proposals / proposals;
- similarity: mean MiniLM cosine to the source over all proposals and over the valid ones;
- label-preserving (valid proposals only): SNLI: the NLI model (``--nli-model``, a fine-tuned
  MiniLM) predicts entailment for (x, x') and for (x', x); its rate on (x, x) is given as the
  ceiling it reaches on identical texts. AG News: the judge predicts the same topic for x'
  as for x.

The adversarial goal is the NLI model itself on (premise, x') for SNLI and the second TF-IDF
model for AG News. The mixture rows run :class:`MixturePerturber` (0.4/0.4/0.2) over the same
proposals and report its K draws. The markdown table is written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sua.eval.data import default_data_dir
from sua.io import read_jsonl
from sua.models import HFSequenceClassifier, PredictiveModel, SklearnModel
from sua.perturb import (
    MixturePerturber,
    Perturbation,
    combine_protectors,
    default_constraints,
    default_families,
    is_valid,
    protect_negations,
    protect_numbers,
    validate,
)
from sua.perturb.constraints import default_embedder
from sua.perturb.resources import glove, pos_tagger, wordnet

PROTECT = combine_protectors(protect_numbers, protect_negations)


class Recorded:
    """A family whose proposals are computed once per input and reused by the mixture."""

    def __init__(self, inner) -> None:
        self.inner, self.family, self.store = inner, inner.family, {}

    def __repr__(self) -> str:
        return repr(self.inner)

    def propose(self, text: str, n: int, *, input_id: str, seed: int) -> list[Perturbation]:
        key = (text, input_id, seed, n)
        if key not in self.store:
            self.store[key] = self.inner.propose(text, n, input_id=input_id, seed=seed)
        return self.store[key]

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]:
        return self.inner.perturb(text, k, input_id=input_id, seed=seed)


@dataclass
class Task:
    name: str
    inputs: list[tuple[str, str]]  # (id, text perturbed)
    goal: PredictiveModel
    to_model_input: object
    same_label: object  # (sources, rewrites) -> bool array
    ceiling: float | None = None
    rows: list[dict] = field(default_factory=list)
    examples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def snli_task(data: Path, n: int, nli: HFSequenceClassifier) -> Task:
    rows = [r for _, (_, r) in zip(range(n), read_jsonl(data / "nli/snli/test.jsonl"), strict=False)]
    premise = {r["id"]: r["premise"] for r in rows}
    entail = nli.labels.index("entailment")

    def bi_entailment(sources: list[str], rewrites: list[str]) -> np.ndarray:
        pairs = list(zip(sources, rewrites, strict=True)) + list(zip(rewrites, sources, strict=True))
        pred = nli.predict_proba(pairs).argmax(axis=1).reshape(2, -1)
        return (pred == entail).all(axis=0)

    inputs = [(r["id"], r["hypothesis"]) for r in rows]
    task = Task("SNLI hypotheses", inputs, nli, lambda i, h: (premise[i], h), bi_entailment)
    task.ceiling = float(bi_entailment([t for _, t in inputs], [t for _, t in inputs]).mean())
    return task


def ag_news_task(data: Path, n: int) -> Task:
    rows = [r for _, r in read_jsonl(data / "topic/ag_news/test.jsonl")]
    order = np.random.default_rng(0).permutation(len(rows))
    rest = order[n:]
    judge_rows, goal_rows = rest[: len(rest) // 2], rest[len(rest) // 2:]

    def fit(idx: np.ndarray) -> SklearnModel:
        pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                             LogisticRegression(max_iter=1000))
        pipe.fit([rows[i]["text"] for i in idx], [rows[i]["label"] for i in idx])
        return SklearnModel(pipe)

    judge, goal = fit(judge_rows), fit(goal_rows)

    def same_topic(sources: list[str], rewrites: list[str]) -> np.ndarray:
        p = judge.predict_proba(list(sources) + list(rewrites)).argmax(axis=1)
        return p[: len(sources)] == p[len(sources):]

    inputs = [(rows[i]["id"], rows[i]["text"]) for i in order[:n]]
    return Task(f"AG News (judge trained on {len(judge_rows)} held-out rows)", inputs, goal, None, same_topic)


def evaluate(task: Task, k: int, seed: int) -> None:
    constraints = default_constraints(PROTECT)
    families = default_families(task.goal, protect=PROTECT, to_model_input=task.to_model_input)
    texts = [t for _, t in task.inputs]
    recorded = {name: Recorded(f) for name, f in families.items()}
    for name, family in recorded.items():
        start = time.perf_counter()
        family.inner.prepare(texts)
        checked = [(text, validate(text, family.propose(text, k, input_id=i, seed=seed), constraints))
                   for i, text in task.inputs]
        seconds = time.perf_counter() - start
        flat = [(src, r) for src, recs in checked for r in recs]
        valid = [(src, r) for src, r in flat if is_valid(r)]
        kept = task.same_label([s for s, _ in valid], [r.text for _, r in valid]) if valid else np.array([])
        task.examples[name] = [(s, r.text) for s, r in valid[:: max(len(valid) // 2, 1)][:2]]
        task.rows.append({
            "family": name, "proposals": len(flat) / len(texts), "acceptance": len(valid) / max(len(flat), 1),
            "sim_all": np.mean([r.similarity for _, r in flat]) if flat else np.nan,
            "sim_valid": np.mean([r.similarity for _, r in valid]) if valid else np.nan,
            "label": kept.mean() if len(kept) else np.nan, "seconds": seconds,
        })
        print(task.name, task.rows[-1], file=sys.stderr, flush=True)
    mixture = MixturePerturber(recorded, constraints=constraints)
    draws = [(text, mixture.perturb(text, k, input_id=i, seed=seed)) for i, text in task.inputs]
    flat = [(src, d) for src, ds in draws for d in ds if d.kind != "identity"]
    kept = task.same_label([s for s, _ in flat], [d.text for _, d in flat])
    shares = {f: np.mean([d.family == f for _, d in flat]) for f in families}
    task.rows.append({
        "family": "mixture (" + ", ".join(f"{f} {s:.0%}" for f, s in shares.items()) + ")",
        "proposals": k, "acceptance": np.nan, "sim_all": np.mean([d.similarity for _, d in flat]),
        "sim_valid": np.mean([d.similarity for _, d in flat]), "label": kept.mean(),
        "seconds": np.nan,
        "fallback": np.mean([bool(d.params.get("fallback")) for _, ds in draws for d in ds]),
    })


def fmt(value: float, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}" if value < 10 else f"{value:.0f}"


def _window(pair: tuple[str, str], width: int = 80) -> tuple[str, str]:
    """The two texts cut to ``width`` characters around their first difference."""
    a, b = pair
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    start = max(0, first - width // 2)
    cut = ("…" if start else "", "…")
    return tuple(cut[0] + t[start:start + width] + (cut[1] if len(t) > start + width else "") for t in (a, b))


def table(tasks: list[Task], command: str, k: int) -> str:
    lines = ["# Perturbation quality per family", "",
             f"Produced by `{command}` (K = {k}; constraints: MiniLM cosine ≥ 0.8, at most half the words "
             "modified, numbers and negations kept). See the script's docstring for the method. "
             "Seconds: wall time per family over all inputs, validity checks included, on the shared "
             "2-core machine.", ""]
    for task in tasks:
        lines += [f"## {task.name}", "",
                  "| family | proposals / input | acceptance | mean similarity (all) "
                  "| mean similarity (valid) | label-preserving (valid) | fallback share | seconds |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in task.rows:
            lines.append(f"| {r['family']} | {fmt(r['proposals'])} | {fmt(r['acceptance'], True)} | "
                         f"{fmt(r['sim_all'])} | {fmt(r['sim_valid'])} | {fmt(r['label'], True)} | "
                         f"{fmt(r.get('fallback', np.nan), True)} | {fmt(r['seconds'])} |")
        if task.ceiling is not None:
            lines += ["", f"The NLI judge's bi-entailment rate on identical texts (x, x) is "
                          f"{task.ceiling:.1%}: the ceiling for the label-preserving column."]
        lines += ["", "Examples (first valid proposals):", ""]
        for name, pairs in task.examples.items():
            lines += [f"- {name}: " + "; ".join(f"“{a}” → “{b}”" for a, b in map(_window, pairs))]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nli-model", default="runs/demo/model")
    parser.add_argument("--out", default="docs/perturb_quality.md")
    args = parser.parse_args()
    data = default_data_dir()
    wordnet(), pos_tagger(), glove(), default_embedder().encode(["load"])  # loads outside the timers
    nli = HFSequenceClassifier(args.nli_model)
    tasks = [snli_task(data, args.n, nli), ag_news_task(data, args.n)]
    for task in tasks:
        evaluate(task, args.k, args.seed)
    command = "python benchmarks/perturb_quality.py " + " ".join(sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table(tasks, command.strip(), args.k), encoding="utf-8")
    print(json.dumps({t.name: t.rows for t in tasks}, default=float, indent=1))


if __name__ == "__main__":
    main()
