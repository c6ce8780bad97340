"""``sua reproduce``: the paper's Table 2, Table 3, Appendix B and Figure 2 on real data.

Each experiment is computed from the cached units of :class:`~sua.eval.runner.ExperimentRun`
(trained models, per-instance score files), aggregated over seeds as mean ± std (ddof = 1),
and written into ``RUN_DIR/results.json`` next to the paper's numbers; ``sua report`` renders
it. Rerunning resumes: finished units are read back, never recomputed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.eval.failure_scores import (
    PAPER_NAMES,
    FittedScores,
    answer_confidence,
    failure_scores,
    fit_scores,
    temperature_scaled,
)
from sua.eval.report import schema
from sua.eval.report.paper import paper_values
from sua.eval.report.write import write_report
from sua.eval.runner import ExperimentRun, Unit, UnitEngine, compute_unit, load_profile, pin_profile
from sua.manifest import versions
from sua.measures import sua_score
from sua.measures.metrics import (
    aurc,
    calibration_bins,
    calibration_error,
    failure_auroc,
    prediction_rejection_ratio,
    risk_coverage_curve,
    robust_accuracy,
    selective_accuracy,
)
from sua.models.precision import check_precision, resolve_device

EXPERIMENTS = ("table2", "table3", "appendix-b", "figure2")
#: Task names as the paper's tables write them.
TASK_TITLES = {"nli": "NLI", "topic": "Class.", "qa": "QA", "topic20ng": "Class. (20NG)"}
#: Table 3 / B.2 presets and the paper's row labels.
PRESET_TITLES = {"sua-tr": "SUA-TR (full)", "sua-tr-no-align": "w/o L_align (β=0)",
                 "sua-tr-no-cons": "w/o L_cons (α=0)", "standard": "Standard (α=β=0)",
                 "sua-tr-adv-only": "Adv-only", "sua-tr-para-only": "Para-only", "sua-tr-k4": "K=4",
                 "sua-tr-k8": "K=8", "sua-tr-k16": "K=16", "sua-tr-mixture": "mixture (0.4/0.4/0.2)"}
ROW_COLUMNS = ("Acc", "Rob. Acc", "Rob. Acc (worst-of-K)", "ECE", "AUROC", "Sel. Acc (80%)",
               "mean S (×10⁻³)", "mean H")


# -- one evaluated model --------------------------------------------------------------------


class Evaluated:
    """A unit's model on a task: validation-fitted scores and each split's records."""

    def __init__(self, run: ExperimentRun, task: str, preset: str, seed: int,
                 n_train: int | None = None, self_consistency: bool = True) -> None:
        self.run, self.task, self.preset, self.seed, self.n_train = run, task, preset, seed, n_train
        self.self_consistency = self_consistency
        spec = run.task(task)
        self.labels = list(spec.labels) if spec.labels else None
        self.val = run.scores(task, preset, seed, "validation", n_train=n_train)
        self.fitted: FittedScores = fit_scores(self.val, self.labels)

        self._labelled: dict[str, tuple[list[dict[str, Any]], dict[str, np.ndarray]]] = {}

    def labelled(self, split: str) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """The split's records with a known ``correct`` and every failure score on them (computed
        once per split)."""
        if split not in self._labelled:
            records = self.run.scores(self.task, self.preset, self.seed, split, n_train=self.n_train)
            agreement = (self.run.agreement(self.task, self.preset, self.seed, split, n_train=self.n_train)
                         if self.self_consistency else None)
            self._labelled[split] = _subset(failure_scores(records, self.fitted, agreement), records)
        return self._labelled[split]


def _correct(records: Sequence[dict[str, Any]]) -> np.ndarray:
    return np.asarray([bool(r["correct"]) for r in records])


def row_metrics(records: Sequence[dict[str, Any]], score: np.ndarray | None,
                confidence: np.ndarray | None, coverage: float = 0.8) -> dict[str, float | None]:
    """Acc, robust accuracy (expected over Q_x and worst-of-K), ECE of ``confidence`` (top-label,
    15 equal-width bins; ``None``: not reported), failure AUROC and selective accuracy of
    ``score`` (higher = abstain first), and the mean S and H of the model on these inputs."""
    correct = _correct(records)
    perturbed = np.asarray([[bool(p["correct"]) for p in r["perturbations"]] for r in records])
    robust = robust_accuracy(perturbed, correct)
    out: dict[str, float | None] = {
        "Acc": float(correct.mean()), "Rob. Acc": robust["expected"],
        "Rob. Acc (worst-of-K)": robust["worst"],
        "ECE": None if confidence is None else calibration_error(confidence, correct),
        "AUROC": None, "Sel. Acc (80%)": None,
        "mean S (×10⁻³)": 1e3 * float(np.mean([r["sensitivity"] for r in records])),
        "mean H": float(np.mean([r["entropy"] for r in records]))}
    if score is not None:
        out["AUROC"] = failure_auroc(score, ~correct)
        out["Sel. Acc (80%)"] = selective_accuracy(score, correct, coverage)
    return out


def _subset(scores: dict[str, np.ndarray], records: Sequence[dict[str, Any]]) -> tuple[
        list[dict[str, Any]], dict[str, np.ndarray]]:
    """Records with a known ``correct`` and the matching score entries."""
    keep = np.asarray([r.get("correct") is not None for r in records])
    return [r for r, k in zip(records, keep) if k], {n: v[keep] for n, v in scores.items()}


# -- aggregation over seeds -----------------------------------------------------------------


class TableBuilder:
    """Collect per-seed cells and write mean ± std rows in first-seen order. ``seeds``: how many
    seeds a cell is meant to pool when that is not the run's count (the report flags cells with fewer)."""

    def __init__(self, table_id: str, title: str, key_columns: Sequence[str], columns: Sequence[str],
                 paper_table: str | None = None, seeds: int | None = None) -> None:
        self.id, self.title, self.seeds = table_id, title, seeds
        self.key_columns, self.columns = list(key_columns), list(columns)
        self.paper_table = paper_table
        self.cells: dict[tuple, dict[str, list[float]]] = {}
        self.paper_keys: dict[tuple, dict[str, Any]] = {}
        self.notes: list[str] = []

    def add(self, keys: dict[str, Any], values: dict[str, float | None],
            paper_keys: dict[str, Any] | None = None) -> None:
        key = tuple(str(keys[c]) for c in self.key_columns)
        row = self.cells.setdefault(key, defaultdict(list))
        for col, value in values.items():
            if value is not None and np.isfinite(value):
                row[col].append(float(value))
        if paper_keys is not None:
            self.paper_keys[key] = paper_keys

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for key, values in self.cells.items():
            cells = {}
            for col in self.columns:
                v = values.get(col, [])
                cells[col] = None if not v else schema.cell(
                    float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v))
            paper = None
            if self.paper_table and key in self.paper_keys:
                paper = paper_values(self.paper_table, self.paper_keys[key])
            rows.append(schema.row(dict(zip(self.key_columns, key)), cells, paper))
        return schema.table(self.id, self.title, self.key_columns, self.columns, rows, self.notes, self.seeds)


# -- experiments ----------------------------------------------------------------------------


def _eval_splits(run: ExperimentRun, task: str) -> list[str]:
    spec = run.task(task)
    return [name for name, s in spec.splits.items() if s.role not in ("train", "validation")]


def table2(run: ExperimentRun, results: dict[str, Any]) -> None:
    """Table 2 (Standard, AT, temperature scaling, self-consistency, SUA-TR × tasks) and the
    failure-score table; reliability, risk–coverage and S–H figures from the first seed."""
    p = run.profile
    coverage = float(p["coverage"])
    t2 = TableBuilder("table2", "Table 2: main results (in-domain test)", ["Task", "Method"], ROW_COLUMNS,
                      paper_table="table2")
    fs = TableBuilder("failure_scores", "Failure prediction on the in-domain test, every score",
                      ["Task", "Model", "Score"], ["AUROC", "AURC", "Sel. Acc (80%)", "PRR"])
    figures = results["figures"]
    for key in ("reliability", "risk_coverage", "sh_scatter"):  # this run's first seed replaces them
        figures[key] = []
    for task in run.task_names():
        title = TASK_TITLES.get(task, task)
        for seed in run.seeds(task):
            first = seed == run.seeds(task)[0]
            models = {m: Evaluated(run, task, m, seed) for m in p["methods"]}
            std = models["standard"]
            for method, ev in models.items():
                test, scores = ev.labelled("test")
                probs_conf = answer_confidence(test)
                name = {"standard": "Standard", "at": "AT", "sua-tr": "SUA-TR"}[method]
                own = "SUA (λ=1)" if method == "sua-tr" else "1 − max prob"
                t2.add({"Task": title, "Method": name}, row_metrics(test, scores[own], probs_conf, coverage),
                       {"Task": title, "Method": name})
                correct = _correct(test)
                _failure_rows(fs, {"Task": title, "Model": name}, scores, correct, coverage)
                if first:
                    figures["reliability"].append(
                        _reliability(task, method, seed, probs_conf, correct))
                    if method in ("standard", "sua-tr"):
                        figures["risk_coverage"].append(_risk_coverage(task, method, seed, scores, test))
                        figures["sh_scatter"].append(_scatter(task, method, seed, test))
            test, scores = std.labelled("test")
            if "1 − max prob (TS)" in scores:
                ts_conf = temperature_scaled(test, std.fitted.temperature).max(-1)
                t2.add({"Task": title, "Method": "Temp. Scale"},
                       row_metrics(test, scores["1 − max prob (TS)"], ts_conf, coverage),
                       {"Task": title, "Method": "Temp. Scale"})
                if first:
                    figures["reliability"].append(
                        _reliability(task, "temp-scale", seed, ts_conf, _correct(test)))
            if "1 − self-consistency" in scores:
                t2.add({"Task": title, "Method": "Self-Consist."},
                       row_metrics(test, scores["1 − self-consistency"], None, coverage),
                       {"Task": title, "Method": "Self-Consist."})
    t2.notes += [
        "Acc: accuracy on the in-domain test (QA: exact match). Rob. Acc: accuracy on the K rewrites "
        "x' ~ Q_x, averaged over inputs and rewrites; worst-of-K: share of inputs right on x and all K.",
        "ECE: top-label, 15 equal-width bins. AUROC and Sel. Acc (80%) rank inputs by each method's own "
        "failure score: 1 − max prob (Standard, AT), 1 − temperature-scaled max prob (Temp. Scale), "
        "1 − MC-dropout agreement (Self-Consist., on the Standard model), SUA = S − λH with λ = 1 "
        "(SUA-TR). Every other score on every model is in the failure-score table.",
        "Temp. Scale and Self-Consist. reuse the Standard model, so their Acc and Rob. Acc equal Standard's.",
        "mean S (×10⁻³) / mean H: the model's mean sensitivity (JSD over the K rewrites, in thousandths "
        "of a nat) and predictive entropy (nats) on the test inputs; SUA-TR's consistency term is meant "
        "to lower S.",
        "QA has no temperature-scaled or self-consistency row: its output space (candidate spans of each "
        "question) has no fixed label index to fit a temperature on, and MC dropout over spans is not built.",
    ]
    fs.notes.append("Scores fitted on validation: λ (max. failure AUROC of S − λH), the combined rule's "
                    "scales (empirical CDFs of SUA and H), the logistic (S, H) model, the temperature.")
    _put_tables(results, t2, fs)


def _failure_rows(table: TableBuilder, keys: dict[str, Any], scores: dict[str, np.ndarray],
                  correct: np.ndarray, coverage: float) -> None:
    """One row per failure score of a model (``keys``): AUROC, AURC, selective accuracy at
    ``coverage`` and PRR."""
    for score_name, values in scores.items():
        table.add({**keys, "Score": score_name}, {
            "AUROC": failure_auroc(values, ~correct), "AURC": aurc(values, correct),
            "Sel. Acc (80%)": selective_accuracy(values, correct, coverage),
            "PRR": prediction_rejection_ratio(values, ~correct)})


def _reliability(task: str, method: str, seed: int, confidence: np.ndarray,
                 correct: np.ndarray) -> dict[str, Any]:
    b = calibration_bins(confidence, correct, n_bins=15)
    return {"task": task, "method": method, "seed": seed, "bins": [
        {"lower": float(b.lower[i]), "upper": float(b.upper[i]), "confidence": _finite(b.confidence[i]),
         "accuracy": _finite(b.accuracy[i]), "count": int(b.count[i])} for i in range(len(b.count))]}


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _risk_coverage(task: str, method: str, seed: int, scores: dict[str, np.ndarray],
                   records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    correct = _correct(records)
    curves = {}
    for name in ("SUA (λ=1)", "SUA (λ from val.)", "entropy", "1 − max prob", "logistic (S, H)"):
        if name in scores:
            cov, risk = risk_coverage_curve(scores[name], correct)
            step = max(1, len(cov) // 200)
            curves[name] = {"coverage": [float(c) for c in cov[::step]],
                            "risk": [float(r) for r in risk[::step]]}
    return {"task": task, "method": method, "seed": seed, "curves": curves}


def _scatter(task: str, method: str, seed: int, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"task": task, "method": method, "seed": seed,
            "S": [float(r["sensitivity"]) for r in records], "H": [float(r["entropy"]) for r in records],
            "correct": [bool(r["correct"]) for r in records], "thresholds": {"s_high": 0.05, "h_high": 0.5}}


def _preset_rows(run: ExperimentRun, table: TableBuilder, presets: Sequence[str], task: str,
                 n_train: int, seeds: Sequence[int], paper_table: str | None) -> None:
    coverage = float(run.profile["coverage"])
    for seed in seeds:
        for preset in presets:
            ev = Evaluated(run, task, preset, seed, n_train=n_train, self_consistency=False)
            test, scores = ev.labelled("test")
            title = PRESET_TITLES.get(preset, preset)
            metrics = row_metrics(test, scores["SUA (λ=1)"], answer_confidence(test), coverage)
            table.add({"Method": title}, metrics,
                      {"Method": title} if paper_table else None)


def table3(run: ExperimentRun, results: dict[str, Any]) -> None:
    """Table 3: SUA-TR ablations on one task (the profile's ``table3`` section)."""
    cfg = run.profile["table3"]
    t3 = TableBuilder("table3", f"Table 3: ablations ({TASK_TITLES.get(cfg['task'], cfg['task'])}, "
                      f"{cfg['train']} training examples)", ["Method"], ROW_COLUMNS, paper_table="table3",
                      seeds=len(cfg["seeds"]))
    _preset_rows(run, t3, cfg["presets"], cfg["task"], run.resolve_size(cfg["task"], cfg["train"]),
                cfg["seeds"], "table3")
    t3.notes += [f"Task {cfg['task']} (the paper's Table 3 is on QA; ours runs on {cfg['task']} for cost); "
                 f"seeds {', '.join(map(str, cfg['seeds']))}.",
                 "AUROC and Sel. Acc (80%) rank by SUA (λ = 1) for every row, Standard included.",
                 "K=4/8/16: perturbations per example in training (K_train); SUA-TR (full) uses K_train "
                 "from the profile's training defaults."]
    _put_tables(results, t3)


def appendix_b(run: ExperimentRun, results: dict[str, Any]) -> None:
    """B.1 K-sweep (Spearman against a large-K reference), B.2 mixture weights, B.3 λ sweep,
    B.4 selective accuracy at 90/80/70 % coverage."""
    from scipy.stats import spearmanr

    p, cfg = run.profile, run.profile["appendix_b"]
    b1 = TableBuilder("b1", f"Appendix B.1: Spearman of the K-sample estimate against K = {p['k_reference']} "
                      "(independent draws)", ["Task", "K"], ["Spearman SUA", "Spearman S"], paper_table="b1")
    b3 = TableBuilder("b3", "Appendix B.3: λ sweep of SUA_λ = S − λH as a failure score (in-domain test)",
                      ["Task", "Model", "λ"], ["AUROC", "Sel. Acc (80%)"])
    b4 = TableBuilder("b4", "Appendix B.4: selective accuracy at 90 / 80 / 70 % coverage (in-domain test)",
                      ["Task", "Model", "Score"], [f"Sel. Acc @{round(c * 100)}%" for c in cfg["coverages"]])
    sweep = defaultdict(lambda: defaultdict(list))  # (task, "SUA" | "S") -> K -> Spearman per seed
    for task in run.task_names():
        title = TASK_TITLES.get(task, task)
        for seed in run.seeds(task):
            ref = run.scores(task, "sua-tr", seed, "test", k=int(p["k_reference"]), score_seed=1000)
            for k in p["k_sweep"]:
                est = run.scores(task, "sua-tr", seed, "test", k=int(k))
                rho_sua = spearmanr([r["sua"] for r in est], [r["sua"] for r in ref]).statistic
                rho_s = spearmanr([r["sensitivity"] for r in est], [r["sensitivity"] for r in ref]).statistic
                b1.add({"Task": title, "K": k}, {"Spearman SUA": rho_sua, "Spearman S": rho_s}, {"K": str(k)})
                sweep[task, "SUA"][k].append(rho_sua)
                sweep[task, "S"][k].append(rho_s)
            for method in ("standard", "sua-tr"):
                ev = Evaluated(run, task, method, seed, self_consistency=False)
                test, scores = ev.labelled("test")
                correct = _correct(test)
                s, h = (np.asarray([r[key] for r in test]) for key in ("sensitivity", "entropy"))
                model = {"standard": "Standard", "sua-tr": "SUA-TR"}[method]
                for lam in cfg["lam_grid"]:
                    sua = np.asarray(sua_score(s, h, lam))
                    b3.add({"Task": title, "Model": model, "λ": lam}, {
                        "AUROC": failure_auroc(sua, ~correct),
                        "Sel. Acc (80%)": selective_accuracy(sua, correct, 0.8)})
                for name, values in scores.items():
                    b4.add({"Task": title, "Model": model, "Score": name},
                           {f"Sel. Acc @{round(c * 100)}%": selective_accuracy(values, correct, c)
                            for c in cfg["coverages"]})
    results["figures"]["k_sweep"] = [
        {"task": task, "score": score, "K": list(ks),
         "spearman_mean": [float(np.mean(v)) for v in ks.values()],
         "spearman_std": [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in ks.values()],
         "paper": [(paper_values("b1", {"K": str(k)}) or {}).get("Spearman") if score == "SUA" else None
                   for k in ks]}
        for (task, score), ks in sweep.items()]
    b1.notes.append("SUA_K and the reference share H(x) exactly, so the SUA correlation is inflated by the "
                    "entropy term; the S column is the estimate's own quality.")
    b3.notes.append("λ varied at scoring time on fixed models (training-time λ is not swept).")
    b4.notes.append("The paper reports B.4 for SUA and entropy on QA; here every score on every task.")
    tcfg = p["table3"]
    b2 = TableBuilder("b2", f"Appendix B.2: perturbation families in SUA-TR training ({cfg['task_b2']})",
                      ["Method"], ROW_COLUMNS, seeds=len(tcfg["seeds"]))
    _preset_rows(run, b2, cfg["b2_presets"], cfg["task_b2"], run.resolve_size(cfg["task_b2"], tcfg["train"]),
                tcfg["seeds"], None)
    b2.notes.append(f"Seeds {', '.join(map(str, tcfg['seeds']))} (Table 3's). SUA-TR (full) trains on "
                    "token edits (the default family); the paper's B.2 is on QA "
                    "with unreported absolute numbers.")
    _put_tables(results, b1, b2, b3, b4)


def figure2(run: ExperimentRun, results: dict[str, Any]) -> None:
    """Figure 2: AUROC of every score on the in-domain, shift, ambiguous and adversarial subsets,
    on each task's first seed (scoring every subset with K rewrites and MC dropout for every seed
    triples the cost; Table 2 carries the variation over seeds)."""
    f2 = TableBuilder("figure2", "Figure 2: failure-prediction AUROC by subset",
                      ["Task", "Subset", "Score"], ["AUROC (Standard)", "AUROC (SUA-TR)", "error rate"],
                      paper_table="figure2", seeds=1)
    for task in run.task_names():
        title = TASK_TITLES.get(task, task)
        spec = run.task(task)
        for seed in run.seeds(task)[:1]:
            for method, column in (("standard", "AUROC (Standard)"), ("sua-tr", "AUROC (SUA-TR)")):
                ev = Evaluated(run, task, method, seed)
                for split in _eval_splits(run, task):
                    records, scores = ev.labelled(split)
                    correct = _correct(records)
                    subset = f"{spec.split(split).role}: {split} (n={len(correct)})"
                    for name, values in scores.items():
                        cells = {column: failure_auroc(values, ~correct)}
                        if method == "standard":
                            cells["error rate"] = float(1 - correct.mean())
                        f2.add({"Task": title, "Subset": subset, "Score": name}, cells,
                               {"Task": title, "Subset": spec.split(split).role,
                                "Score": PAPER_NAMES.get(name, name)})
    f2.notes.append(
        "First seed of each task. Error rate is that of the Standard model; n: labelled inputs. Scores "
        "fitted on each model's validation split. Adversarial subsets: BIG-bench epistemic_reasoning (2-way; "
        "the model's neutral + contradiction mass read as non-entailment) and the in-domain test "
        "scored with label-free adversarial proposals as Q_x.")
    _put_tables(results, f2)


#: The order of the tables in results.json and the report.
TABLE_ORDER = ("table2", "failure_scores", "figure2", "table3", "b1", "b2", "b3", "b4")


def _put_tables(results: dict[str, Any], *tables: TableBuilder) -> None:
    """Add or replace ``tables`` in ``results``, keeping :data:`TABLE_ORDER`."""
    new = {t.id: t.to_dict() for t in tables}
    kept = [t for t in results["tables"] if t["id"] not in new] + list(new.values())
    results["tables"] = sorted(kept, key=lambda t: TABLE_ORDER.index(t["id"]))


EXPERIMENT_FUNCS: dict[str, Callable[[ExperimentRun, dict[str, Any]], None]] = {
    "table2": table2, "table3": table3, "appendix-b": appendix_b, "figure2": figure2}


# -- the units each experiment reads ---------------------------------------------------------

#: A unit's request: (task, preset, seed, n_train or None for the task's size, score files
#: ``(split, K or None for the profile's, scoring seed)``, agreement splits).
_Request = tuple[str, str, int, int | None, list[tuple[str, int | None, int]], list[str]]


def _unit_requests(run: ExperimentRun, name: str) -> list[_Request]:
    """What experiment ``name`` reads from the run's cache, model by model (mirrors the experiment
    functions above: a file they read that is missing here is computed by the table step)."""
    p, out = run.profile, []
    if name == "table2":
        out += [(task, method, seed, None, [("validation", None, 0), ("test", None, 0)], ["test"])
                for task in run.task_names() for seed in run.seeds(task) for method in p["methods"]]
    elif name == "figure2":
        for task in run.task_names():
            splits = _eval_splits(run, task)
            out += [(task, method, run.seeds(task)[0], None,
                     [("validation", None, 0)] + [(split, None, 0) for split in splits], splits)
                    for method in ("standard", "sua-tr")]
    elif name == "table3":
        cfg = p["table3"]
        out += [(cfg["task"], preset, seed, run.resolve_size(cfg["task"], cfg["train"]),
                 [("validation", None, 0), ("test", None, 0)], [])
                for seed in cfg["seeds"] for preset in cfg["presets"]]
    elif name == "appendix-b":
        ks = [(int(p["k_reference"]), 1000)] + [(int(k), 0) for k in p["k_sweep"]]
        for task in run.task_names():
            for seed in run.seeds(task):
                out.append((task, "sua-tr", seed, None, [("test", k, s) for k, s in ks], []))
                out += [(task, method, seed, None, [("validation", None, 0), ("test", None, 0)], [])
                        for method in ("standard", "sua-tr")]
        cfg, tcfg = p["appendix_b"], p["table3"]
        out += [(cfg["task_b2"], preset, seed, run.resolve_size(cfg["task_b2"], tcfg["train"]),
                 [("validation", None, 0), ("test", None, 0)], [])
                for seed in tcfg["seeds"] for preset in cfg["b2_presets"]]
    return out


def plan_units(run: ExperimentRun, experiments: Sequence[str]) -> list[Unit]:
    """The units ``experiments`` read, one per trained model (requests for the same model
    folder merged, so no two units write one folder), in first-requested order."""
    merged: dict[tuple[str, str, int, int], tuple[dict[tuple[str, int, int], None], dict[str, None]]] = {}
    for name in experiments:
        for task, preset, seed, n_train, scores, agreement in _unit_requests(run, name):
            key = (task, preset, int(seed), n_train or run.train_size(task))
            files, votes = merged.setdefault(key, ({}, {}))
            files.update(dict.fromkeys((split, k or int(run.profile["k"]), s) for split, k, s in scores))
            votes.update(dict.fromkeys(agreement))
    return [Unit(*key, scores=tuple(files), agreement=tuple(votes)) for key, (files, votes) in merged.items()]


@dataclass(frozen=True)
class ReproduceConfig:
    """Which work a reproduction does besides its experiments: the ``profile`` (a shipped name,
    ``quick`` or ``full``, or a profile TOML file: sizes, seeds, K, training options), ``seeds``
    (that many seeds, 0..N-1, instead of the profile's), ``tasks`` (``--task`` values: the
    experiments over tasks run only on these of the profile's tasks,
    :meth:`ExperimentRun.select_tasks`; Table 3 and Appendix B.2 keep the profile's task) and the
    ``data_dir`` the task files' sources are read under (default: :func:`default_data_dir`).

    >>> ReproduceConfig(seeds=0)
    Traceback (most recent call last):
    ...
    sua.errors.SUAInputError: --seeds must be >= 1, got 0
    """

    profile: str | os.PathLike[str] = "quick"
    seeds: int | None = None
    tasks: Sequence[str | os.PathLike[str]] | None = None
    data_dir: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.seeds is not None and self.seeds < 1:
            raise SUAInputError(f"--seeds must be >= 1, got {self.seeds}")

    def profile_config(self, precision: str) -> dict[str, Any]:
        """The loaded profile with this run's seeds and scoring ``precision`` (part of the profile:
        a run folder keeps it)."""
        config = load_profile(self.profile)
        if self.seeds is not None:
            config["seeds"] = list(range(self.seeds))
        config["precision"] = check_precision(precision)
        return config


def reproduce(experiments: Sequence[str], run_dir: str | os.PathLike[str],
              config: ReproduceConfig | None = None, *, precision: str = "fp32", device: str = "auto",
              progress: bool = True, log: Callable[[str], None] = print,
              engine: UnitEngine | None = None) -> Path:
    """Run ``experiments`` (names from :data:`EXPERIMENTS`, or ``all``) into ``run_dir`` as
    ``config`` says (:class:`ReproduceConfig`; default: the ``quick`` profile), write
    ``results.json`` and the report; return the results path.

    A run folder keeps its profile: rerunning with the same settings resumes; other settings
    are an error (choose another folder). ``precision`` (fp32, bf16, int8) is the scoring models'
    and part of the profile (a run folder keeps it); ``device`` (cpu, cuda, auto) is where models
    train and score, written into the results' meta. ``engine`` (e.g.
    :class:`sua.distributed.RayUnitEngine`) first computes the units the experiments read
    (:func:`plan_units`: task × preset × seed with its score files) elsewhere, in the same run
    folder; the tables are then built here from those files, as a local run builds them.
    ``progress``: progress bars; ``log``: where the one-line steps go."""
    names = list(EXPERIMENTS) if "all" in experiments else list(experiments)
    unknown = sorted(set(names) - set(EXPERIMENTS))
    if unknown or not names:
        raise SUAInputError(f"unknown experiment(s) {unknown}; known: {', '.join(EXPERIMENTS)}, all")
    choice = config or ReproduceConfig()
    profile = choice.profile_config(precision)
    run = ExperimentRun(run_dir, profile, data_dir=choice.data_dir, progress=progress, log=log,
                        device=str(resolve_device(device)))
    if choice.tasks:
        run.select_tasks(choice.tasks)  # a bad --task is refused before the run folder is made
    out = pin_profile(run_dir, profile)
    results_file = out / schema.RESULTS_FILE
    results = (json.loads(results_file.read_text(encoding="utf-8")) if results_file.exists()
               else schema.new_results())
    for kind in schema.FIGURE_KINDS:  # an earlier run's results may lack a figure kind
        results["figures"].setdefault(kind, [])
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if engine is not None:
        engine.run(run, compute_unit, [(unit,) for unit in plan_units(run, names)])
    for name in names:
        log(f"== {name}")
        EXPERIMENT_FUNCS[name](run, results)
    results["meta"] = {
        "profile": profile["name"], "seeds": profile["seeds"],
        "command": "sua " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("sua")
        else f"sua reproduce {' '.join(names)} --profile {choice.profile}",
        "versions": versions(), "config": profile, "device": run.device,
        "started": results["meta"].get("started", started),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "notes": [f"data: {os.path.relpath(run.data_dir)}",  # relative: no machine paths in results
                  "std over seeds with ddof = 1 (0 when one seed)."]}
    results_file.write_text(json.dumps(results, indent=1), encoding="utf-8")
    write_report(out)
    return results_file
