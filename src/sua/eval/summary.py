"""`sua summarize`: a short table over a file of score records."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np

from sua.eval.intervals import Statistic, bootstrap, draw
from sua.measures import SIGNATURES, failure_auroc
from sua.measures.failure_scores import FAILURE_SCORES, failure_score
from sua.measures.ranking import TiedRanks, failure_auroc_rows
from sua.records import Records, ScoreTable, read_scores

_NEEDED = ("sensitivity", "entropy", "sua", "signature", "max_prob")
_COLUMNS = ("sensitivity", "entropy", "sua", "max_prob")
#: Above this many labelled records the intervals are left out: they are then narrower than any
#: difference worth reading, and 1,000 resamples of each AUROC would take minutes.
MAX_BOOTSTRAP_ITEMS = 100_000


def summarize_records(records: Records) -> dict[str, Any]:
    """Mean S, H, SUA, share of each signature, accuracy and failure AUROCs.

    ``records``: a :class:`~sua.records.ScoreTable` or the records to read into one. AUROCs
    (wrong vs right, higher score = more likely wrong) of every score of
    :data:`~sua.measures.failure_scores.FAILURE_SCORES`, only when gold labels are present, each
    with its 95 % bootstrap interval over the records (``*_ci``,
    :func:`~sua.eval.intervals.bootstrap`, 1,000 resamples; up to ``MAX_BOOTSTRAP_ITEMS``
    records), and ``lead``: the best score's paired AUROC difference to the runner-up, with its
    interval (the two AUROCs' draws on the same resamples, :class:`~sua.eval.intervals.Draws`).
    """
    table = ScoreTable.of(records)
    table.require(_NEEDED, "summarize reads `sua score` output")
    n = len(table)
    cols = {name: table.column(name) for name in _COLUMNS}
    signatures = Counter(table.signature)
    out: dict[str, Any] = {
        "n": n,
        "mean_sensitivity": float(np.mean(cols["sensitivity"])),
        "mean_entropy": float(np.mean(cols["entropy"])),
        "mean_sua": float(np.mean(cols["sua"])),
        "sua_risk": float(np.mean(np.maximum(cols["sua"], 0.0))),
        "signatures": {s: signatures.get(s, 0) / n for s in SIGNATURES},
    }
    if table.labelled().all():
        wrong = ~table.right("accuracy")
        out["accuracy"] = float(1.0 - wrong.mean())
        scores = {name: failure_score(name, cols) for name in FAILURE_SCORES}
        out["failure_auroc"] = {name: failure_auroc(values, wrong) for name, values in scores.items()}
        if n <= MAX_BOOTSTRAP_ITEMS:
            out.update(_intervals(scores, wrong, out["failure_auroc"]))
    return out


def _intervals(scores: dict[str, np.ndarray], wrong: np.ndarray, aurocs: dict[str, float]) -> dict[str, Any]:
    """95 % bootstrap intervals of the accuracy and of each failure AUROC, and the paired
    difference of the best AUROC over the runner-up (:mod:`sua.eval.intervals`)."""
    n = wrong.size

    def auroc_of(values: np.ndarray) -> Statistic:
        ranks = TiedRanks.of(values)
        return lambda rows: failure_auroc_rows(ranks, wrong, rows)

    draws = {name: draw(auroc_of(values), n) for name, values in scores.items()}
    acc = bootstrap(lambda rows: 1.0 - wrong[rows].mean(axis=1), n)
    out: dict[str, Any] = {"accuracy_ci": [acc.ci_low, acc.ci_high], "failure_auroc_ci": {}}
    for name, auroc in draws.items():
        interval = auroc.interval()
        out["failure_auroc_ci"][name] = [interval.ci_low, interval.ci_high]
    ranked = sorted((name for name, v in aurocs.items() if np.isfinite(v)), key=lambda name: -aurocs[name])
    if len(ranked) >= 2:
        best, second = ranked[:2]
        lead = (draws[best] - draws[second]).interval()  # the same resamples: paired
        out["lead"] = {"best": best, "second": second, "value": lead.value, "ci": [lead.ci_low, lead.ci_high]}
    return out


def summarize_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """:func:`summarize_records` over a JSONL file written by ``sua score``."""
    return summarize_records(read_scores(path))


def reading(summary: dict[str, Any]) -> str:
    """One line on which failure score to trust: the best failure AUROC, its lead over the next
    best and over SUA (λ as scored), against chance (0.5)."""
    aurocs = {k: v for k, v in summary.get("failure_auroc", {}).items() if v is not None and np.isfinite(v)}
    if len(aurocs) < 2:
        return "reading: no gold labels (or one class only), so no score can be checked against failures."
    ranked = sorted(aurocs.items(), key=lambda kv: -kv[1])
    (best, top), (second, runner_up) = ranked[0], ranked[1]
    if top <= 0.5:
        return f"reading: no score ranks failures better than chance here (best: {best}, AUROC {top:.3f})."
    text = f"reading: {best} ranks failures best (AUROC {top:.3f}, +{top - runner_up:.3f} over {second}"
    lead = summary.get("lead")
    if lead is not None and lead["best"] == best and lead["second"] == second:
        low, high = lead["ci"]
        sure = "a real lead" if low > 0 else "within sampling noise"
        text += f", 95 % interval [{low:+.3f}, {high:+.3f}]: {sure}"
    text += "; 0.5 is chance)"
    if best != "sua" and "sua" in aurocs:
        text += f"; SUA scores {aurocs['sua']:.3f}"
    return text + "."


def ci_text(ci: list[float] | None) -> str:
    """`` [low, high]`` for a finite interval, else nothing."""
    if ci is None or not all(np.isfinite(ci)):
        return ""
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a small plain-text table."""
    lines = [f"inputs            {summary['n']}"]
    if "accuracy" in summary:
        lines.append(f"accuracy          {summary['accuracy']:.4f}{ci_text(summary.get('accuracy_ci'))}")
    lines += [
        f"mean S            {summary['mean_sensitivity']:.4f}",
        f"mean H            {summary['mean_entropy']:.4f}",
        f"mean SUA          {summary['mean_sua']:.4f}",
        f"SUA risk E[(SUA)+] {summary['sua_risk']:.4f}",
        "signatures",
    ]
    lines += [f"  {name:<19} {share:6.1%}" for name, share in summary["signatures"].items()]
    if "failure_auroc" in summary:
        lines.append("failure AUROC (wrong vs right), 95 % interval")
        cis = summary.get("failure_auroc_ci", {})
        lines += [f"  {name:<19} {v:.3f}{ci_text(cis.get(name))}"
                  for name, v in summary["failure_auroc"].items()]
    lines.append(reading(summary))
    return "\n".join(lines)
