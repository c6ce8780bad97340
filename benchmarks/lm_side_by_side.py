"""Language-model failure prediction side by side with LM-Polygraph, on the same generations.

Run (generate, then analyse; resumable, a larger ``--n`` extends a smaller one):
``HF_HUB_OFFLINE=1 python benchmarks/lm_side_by_side.py --n 40 [--split squad] [--model DIR
--model-name NAME] [--out /work/runs/lm_side]``; ``--analyse-only`` rebuilds the tables and
``docs/lm_side_by_side.md`` from the run folders without loading a model. Needs
``pip install -c constraints.txt -r benchmarks/requirements-lm-polygraph.txt`` for the analysis.

Generation (once per question, cached in ``<out>/<model-name>/<split>/records.jsonl``):
``GenerativeSUAScorer`` as in ``lm_squad.py`` — the greedy answer (judged) with its token
log-probs and entropies, M answers sampled at temperature 1 with their token log-probs, and M
answers for each of K rewrites (back-translation and token edits). Nothing is generated again:
LM-Polygraph's estimators read the statistics :func:`sua.eval.polygraph.polygraph_stats` builds
from these records (semantic equivalence = SQuAD-normalised exact match instead of its NLI model;
no 3-way NLI model is available offline), and ours read the same records.

Analysis: every score on every record; records are split by a hash of their id into validation
(40 %: fits λ, the logistic (S, H) score, and picks the "best" scores) and test (60 %: every
number in the tables). AUROC and PRR (LM-Polygraph's normalised prediction-rejection area,
:func:`sua.measures.metrics.prediction_rejection_ratio`) for wrong = F1 < 0.5 and wrong = not
exact match, each with a 95 % percentile bootstrap interval over test questions; the paired
difference of the best rewrite-based score against the best sampling-only score uses the same
resamples for both sides. The agreement check compares the quantities both libraries compute.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sua.eval.failure_scores import failure_scores, fit_scores
from sua.eval.intervals import Draws, draw
from sua.eval.polygraph import polygraph_stats
from sua.measures import failure_auroc
from sua.measures.metrics import prediction_rejection_ratio
from sua.models.generation import AnswerSampler

#: ``--split`` -> (file of the data folder, subset file stem).
SPLITS = {"squad": ("qa/squad/dev.jsonl", "squad_dev"), "nyt": ("qa/squad_shifts/nyt.jsonl", "nyt"),
          "reddit": ("qa/squad_shifts/reddit.jsonl", "reddit"),
          "new_wiki": ("qa/squad_shifts/new_wiki.jsonl", "new_wiki"),
          "amazon": ("qa/squad_shifts/amazon.jsonl", "amazon")}
VALIDATION_SHARE = 0.4
TARGETS = {"F1 < 0.5": lambda r: not r["correct"], "not EM": lambda r: not r["exact_match"]}
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "AUROC": failure_auroc, "PRR": prediction_rejection_ratio}


# --------------------------------------------------------------------------- generation

@dataclass
class TimedSampler(AnswerSampler):
    """An :class:`AnswerSampler` that adds up its wall time: the call with the greedy answer
    (the question's own greedy + M samples) and the others (the rewrites' samples)."""

    seconds: dict[str, float] = field(default_factory=lambda: {"question": 0.0, "rewrites": 0.0})

    def sample(self, inputs, *, n, seed, greedy=False):  # noqa: ANN001, ANN201 - as AnswerSampler
        start = time.perf_counter()
        try:
            return super().sample(inputs, n=n, seed=seed, greedy=greedy)
        finally:
            self.seconds["question" if greedy else "rewrites"] += time.perf_counter() - start


def complete_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file a running generation may be appending to (complete lines only)."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line.strip()]


def generate(args: argparse.Namespace, run: Path) -> None:
    """Score the first ``args.n`` questions of the split into ``run/records.jsonl`` (resumable);
    append this session's wall time (sampling of x, of the rewrites, total) to ``run/timing.jsonl``."""
    import torch
    import transformers
    from lm_squad import subset  # the same fixed question order as benchmarks/lm_squad.py

    from sua.models.generation import SamplingConfig
    from sua.models.lm_backends import load_lm
    from sua.perturb import MixturePerturber, default_families
    from sua.scoring.generative import GenerativeSUAScorer

    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    data = subset(args.n, args.seed, run, *SPLITS[args.split])
    sampler = TimedSampler(load_lm("hf-causal", args.model, dtype=args.dtype, device="cpu"), "qa-generative",
                           SamplingConfig(temperature=1.0, max_new_tokens=args.max_new_tokens))
    perturber = MixturePerturber(families=default_families(), weights={"paraphrase": 0.5, "token": 0.5})
    scorer = GenerativeSUAScorer(sampler, perturber, k=args.k, m=args.m, seed=args.seed)
    records = run / "records.jsonl"
    before = len(complete_records(records))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` records the time
    start = time.perf_counter()
    try:
        scorer.score_file(data, records, metadata={"dtype": args.dtype, "model": args.model_name})
    finally:
        done = len(complete_records(records)) - before
        if done > 0:
            with (run / "timing.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"questions": done, "seconds": time.perf_counter() - start,
                                     **{f"seconds_{k}": v for k, v in sampler.seconds.items()}}) + "\n")


# --------------------------------------------------------------------------- scores

@dataclass(frozen=True)
class Score:
    """One failure score over all records (higher = more likely wrong)."""

    name: str
    library: str
    family: str  # "greedy only", "sampling only" or "rewrites"
    values: np.ndarray


def polygraph_scores(records: Sequence[dict[str, Any]]) -> tuple[list[Score], dict[str, float]]:
    """LM-Polygraph's estimators on the bridged statistics, and each one's wall time (s)."""
    from lm_polygraph.estimators import (
        DegMat,
        EigValLaplacian,
        LexicalSimilarity,
        MaximumSequenceProbability,
        MeanTokenEntropy,
        NumSemSets,
        Perplexity,
        SemanticEntropy,
    )

    start = time.perf_counter()
    stats = polygraph_stats(records)
    seconds = {"statistics (bridge, exact-match classes)": time.perf_counter() - start}
    estimators = [
        (MaximumSequenceProbability(), "greedy only"), (Perplexity(), "greedy only"),
        (MeanTokenEntropy(), "greedy only"), (LexicalSimilarity(), "sampling only"),
        (NumSemSets(), "sampling only"), (EigValLaplacian(), "sampling only"),
        (EigValLaplacian(similarity_score="Jaccard_score"), "sampling only"),
        (DegMat(), "sampling only"), (DegMat(similarity_score="Jaccard_score"), "sampling only"),
        (SemanticEntropy(), "sampling only"),
        (SemanticEntropy(class_probability_estimation="frequency"), "sampling only")]
    scores = []
    for estimator, family in estimators:
        start = time.perf_counter()
        values = np.asarray(estimator(stats), dtype=np.float64)
        seconds[str(estimator)] = time.perf_counter() - start
        scores.append(Score(str(estimator), "LM-Polygraph", family, values))
    return scores, seconds


def is_validation(record_id: str) -> bool:
    """A fixed 40 % of questions, by a hash of the id (stable as the run grows)."""
    bucket = int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:4], "little") % 100
    return bucket < 100 * VALIDATION_SHARE


def sua_scores(records: Sequence[dict[str, Any]],
               val: np.ndarray) -> tuple[list[Score], float, dict[str, float]]:
    """Ours, from the same records: S, the ambiguity proxy, semantic entropy, self-consistency,
    SUA at λ = 1 and at λ selected on validation, the logistic (S, H) score fitted on
    validation; also the selected λ and each score family's wall time."""
    start = time.perf_counter()
    fitted = fit_scores([r for r, v in zip(records, val, strict=True) if v])
    table = failure_scores(records, fitted)
    seconds = {"S, H, SUA and fitted (S, H) scores (from cached records)": time.perf_counter() - start}
    column = {key: np.array([float(r[key]) for r in records]) for key in ("ambiguity", "max_prob")}
    out = [Score("S (rewrite sensitivity)", "sua", "rewrites", table["S"]),
           Score("ambiguity proxy (pooled-answer entropy)", "sua", "rewrites", column["ambiguity"]),
           Score("SUA (λ = 1)", "sua", "rewrites", table["SUA (λ=1)"]),
           Score(f"SUA (λ = {fitted.lam:g}, from validation)", "sua", "rewrites", table["SUA (λ from val.)"]),
           Score("semantic entropy (exact-match clusters)", "sua", "sampling only", table["entropy"]),
           Score("self-consistency (1 − modal frequency)", "sua", "sampling only", 1.0 - column["max_prob"])]
    if "logistic (S, H)" in table:
        out.append(Score("logistic (S, H), fitted on validation", "sua", "rewrites",
                         table["logistic (S, H)"]))
    return out, fitted.lam, seconds


def best_on_validation(scores: Sequence[Score], family: Callable[[Score], bool], wrong: np.ndarray,
                       val: np.ndarray) -> Score:
    """The score of the family with the highest validation AUROC (first one on ties)."""
    candidates = [s for s in scores if family(s)]
    return max(candidates, key=lambda s: failure_auroc(s.values[val], wrong[val]))


# --------------------------------------------------------------------------- metrics

def metric_draws(values: np.ndarray, wrong: np.ndarray, metric: str, resamples: int) -> Draws:
    """The metric on the test items and on ``resamples`` seeded item resamples (seed 0, so that
    every score sees the same resamples and differences pair)."""
    fn = METRICS[metric]
    return draw(lambda idx: fn(values[idx], wrong[idx]), len(values), n_resamples=resamples, seed=0)


def fmt(d: Draws) -> str:
    i = d.interval()
    return f"{i.value:.3f} [{i.ci_low:.3f}, {i.ci_high:.3f}]"


@dataclass
class Analysis:
    """Everything the doc shows for one run folder."""

    title: str
    lines: list[str]


def analyse(run: Path, resamples: int, m: int) -> Analysis:
    """Scores, metrics with intervals, the paired difference, agreement and cost of one run."""
    records = [r for r in complete_records(run / "records.jsonl")
               if r.get("answer_token_logprobs") and r.get("sample_token_logprobs")]
    n = len(records)
    val = np.array([is_validation(r["id"]) for r in records])
    test = ~val
    theirs, their_seconds = polygraph_scores(records)
    ours, lam, our_seconds = sua_scores(records, val)
    scores = theirs + ours
    by_name = {s.name: s for s in scores}
    wrong = {t: np.array([f(r) for r in records]) for t, f in TARGETS.items()}
    calls = np.array([r["n_generations"] for r in records], dtype=np.float64)
    generations = {"greedy only": "1", "sampling only": f"{1 + m} (1 + M)",
                   "rewrites": f"{calls.mean():.1f} (1 + M·(1 + distinct rewrites))"}

    lines = [f"n = {n} questions answered ({int(val.sum())} validation, {int(test.sum())} test); "
             f"greedy-answer accuracy {np.mean([r['correct'] for r in records]):.3f} (F1 ≥ 0.5), "
             f"{np.mean([r['exact_match'] for r in records]):.3f} (exact match). Every number below is on "
             f"the {int(test.sum())} test questions; [low, high] = 95 % bootstrap interval "
             f"({resamples} resamples of test questions). λ selected on validation: {lam:g}.", "",
             "| score | library | uses | AUROC, F1 < 0.5 | PRR, F1 < 0.5 | AUROC, not EM | PRR, not EM "
             "| generations per input |", "|---|---|---|---|---|---|---|---|"]
    draws: dict[tuple[str, str, str], Draws] = {}
    for s in scores:
        cells = []
        for target in TARGETS:
            for metric in METRICS:
                d = metric_draws(s.values[test], wrong[target][test], metric, resamples)
                draws[s.name, target, metric] = d
                cells.append(fmt(d))
        lines.append(f"| {s.name} | {s.library} | {s.family} | {' | '.join(cells)} "
                     f"| {generations[s.family]} |")

    lines += ["", "Paired difference on the test questions (same resamples for both sides), each side "
              "chosen by its validation AUROC for that definition of wrong:", "",
              "| wrong = | best rewrite-based | best sampling-only | Δ AUROC [CI] | Δ PRR [CI] "
              "| best not using rewrites (incl. greedy only) | Δ AUROC [CI] |",
              "|---|---|---|---|---|---|---|"]
    for target in TARGETS:
        rewrite = best_on_validation(scores, lambda s: s.family == "rewrites", wrong[target], val)
        sampling = best_on_validation(scores, lambda s: s.family == "sampling only", wrong[target], val)
        other = best_on_validation(scores, lambda s: s.family != "rewrites", wrong[target], val)
        delta = [fmt(draws[rewrite.name, target, metric] - draws[sampling.name, target, metric])
                 for metric in METRICS]
        delta_other = fmt(draws[rewrite.name, target, "AUROC"] - draws[other.name, target, "AUROC"])
        lines.append(f"| {target} | {rewrite.name} | {sampling.name} | {' | '.join(delta)} | {other.name} "
                     f"| {delta_other} |")

    lines += ["", *agreement(records, by_name), "",
              *cost(run, n, m, calls, {**their_seconds, **our_seconds})]
    model, split = run.parent.name, run.name
    return Analysis(f"{model} on {split} (n = {n})", lines)


def agreement(records: Sequence[dict[str, Any]], by_name: dict[str, Score]) -> list[str]:
    """Per-item agreement of the quantities both libraries compute, and the closed forms the
    exact-match substitution implies (module doc of :mod:`sua.eval.polygraph`)."""
    tol = 1e-9
    sample_probs = []
    for r in records:
        _, counts = np.unique(_classes(r["samples"]), return_counts=True)
        sample_probs.append(counts / counts.sum())
    distinct = np.array([len(p) for p in sample_probs], dtype=np.float64)
    ours_se = by_name["semantic entropy (exact-match clusters)"].values
    checks = [
        ("semantic entropy: ours vs SemanticEntropyEmpirical", by_name["SemanticEntropyEmpirical"],
         ours_se),
        ("max. sequence probability: −Σ_t log p(y_t) of our record vs MaximumSequenceProbability",
         by_name["MaximumSequenceProbability"],
         np.array([-sum(r["answer_token_logprobs"]) for r in records])),
        ("mean token entropy: our record's `mean_token_entropy` vs MeanTokenEntropy",
         by_name["MeanTokenEntropy"],
         np.array([np.nan if r["mean_token_entropy"] is None else r["mean_token_entropy"] for r in records])),
        ("NumSemSets vs number of distinct answers", by_name["NumSemSets"], distinct),
        ("EigValLaplacian (NLI score) vs number of distinct answers",
         by_name["EigValLaplacian_NLI_score_entail"], distinct),
        ("DegMat (NLI score) vs 1 − Σ_c p_c²", by_name["DegMat_NLI_score_entail"],
         np.array([1.0 - float(np.sum(p ** 2)) for p in sample_probs])),
    ]
    lines = [f"Agreement, per item over all {len(records)} questions (tolerance {tol:g}, absolute):", "",
             "| quantity | max. abs. difference | items within tolerance |", "|---|---|---|"]
    for label, theirs, ours in checks:
        diff = np.abs(theirs.values - ours)
        lines.append(f"| {label} | {np.nanmax(diff):.2e} | {int(np.sum(diff <= tol))} / {len(diff)} |")
    se_sum = by_name["SemanticEntropy"].values
    lines += ["", "LM-Polygraph's default `SemanticEntropy` (class probability = Σ of its samples' "
              "sequence probabilities, not normalised; Monte-Carlo mean of −log over the samples) is a "
              "different quantity from the discrete semantic entropy: Spearman ρ with ours = "
              f"{_spearman(se_sum, ours_se):.3f}, max. abs. difference "
              f"{np.max(np.abs(se_sum - ours_se)):.2f} nats."]
    return lines


def _classes(samples: Sequence[str]) -> list[int]:
    from sua.models.clustering import ExactMatchClusterer

    return ExactMatchClusterer().cluster(list(samples))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def cost(run: Path, n: int, m: int, calls: np.ndarray, seconds: dict[str, float]) -> list[str]:
    """Generations per input and wall time per estimator family."""
    timing = [json.loads(line) for line in (run / "timing.jsonl").read_text().splitlines()] \
        if (run / "timing.jsonl").is_file() else []
    q = sum(t["questions"] for t in timing)
    lines = ["Cost. Generations per input: greedy-only scores 1 (the judged answer); sampling-only "
             f"1 + M = {1 + m}; rewrite-based {calls.mean():.1f} on average (1 + M·(1 + distinct "
             "rewrites); a rewrite equal to the question or to another rewrite reuses its samples), plus "
             "the K rewrites, made without the LM. NLI calls: 0 (exact-match equivalence)."]
    if q:
        per = {k: sum(t[k] for t in timing) / q for k in ("seconds", "seconds_question", "seconds_rewrites")}
        lines += ["", f"Generation wall time per question, measured over {q} questions generated "
                  f"(1 CPU thread, shared machine): {per['seconds']:.2f} s in all; the question's greedy "
                  f"answer and M samples {per['seconds_question']:.2f} s (one batched call, so the greedy "
                  f"answer alone is not timed apart: about 1/(1 + M) of it); the rewrites' samples "
                  f"{per['seconds_rewrites']:.2f} s; making the rewrites and the rest "
                  f"{per['seconds'] - per['seconds_question'] - per['seconds_rewrites']:.2f} s."]
    lines += ["", "Scoring wall time from the cached generations, per question (ms):", "",
              "| estimator | ms per question |", "|---|---|"]
    lines += [f"| {name} | {1000 * s / n:.3f} |" for name, s in seconds.items()]
    return lines


# --------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--split", choices=sorted(SPLITS), default="squad")
    parser.add_argument("--model", default=None, help="HF folder or hub name (default: the offline SmolLM2)")
    parser.add_argument("--model-name", default="SmolLM2-135M-Instruct", help="run folder name of the model")
    parser.add_argument("--k", type=int, default=4, help="rewrites per question")
    parser.add_argument("--m", type=int, default=8, help="sampled answers per input")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default="/work/runs/lm_side")
    parser.add_argument("--doc", default="docs/lm_side_by_side.md")
    parser.add_argument("--analyse-only", action="store_true",
                        help="no generation: tables from the run folders")
    args = parser.parse_args()
    for name in ("n", "k", "m", "resamples", "threads", "max_new_tokens"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            sys.exit(2)
    out = Path(args.out)
    if not args.analyse_only:
        run = out / args.model_name / args.split
        run.mkdir(parents=True, exist_ok=True)
        generate(args, run)
    runs = sorted(p.parent for p in out.glob("*/*/records.jsonl"))
    if not runs:
        print(f"error: no run folder with records under {out}", file=sys.stderr)
        sys.exit(2)
    sections = [analyse(run, args.resamples, args.m) for run in runs]
    write_doc(Path(args.doc), sections, args)


def write_doc(path: Path, sections: Sequence[Analysis], args: argparse.Namespace) -> None:
    """The doc: how it was made, then one section per run folder."""
    import lm_polygraph

    version = getattr(lm_polygraph, "__version__", "0.7.0")
    head = [
        "# Language models side by side with LM-Polygraph",
        "",
        f"Produced by `HF_HUB_OFFLINE=1 python benchmarks/lm_side_by_side.py --analyse-only --out "
        f"{args.out}` from the run folders, which `benchmarks/lm_side_by_side.py --n N` fills "
        f"(resumable). LM-Polygraph {version}, K = {args.k} rewrites (back-translation and token edits), "
        f"M = {args.m} samples at temperature 1, at most {args.max_new_tokens} new tokens, "
        f"{args.dtype} weights. Higher score = more likely wrong; AUROC 0.5 and PRR 0 are chance.",
        "",
    ]
    body = [line for s in sections for line in ("", f"## {s.title}", "", *s.lines)]
    text = "\n".join(head + body) + "\n"
    path.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
