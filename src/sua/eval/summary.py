"""`sua summarize`: a short table over a file of score records."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.io import read_jsonl
from sua.measures import SIGNATURES, failure_auroc
from sua.measures.failure_scores import FAILURE_SCORES, failure_score
from sua.validate import check_score_records

_NEEDED = ("sensitivity", "entropy", "sua", "signature", "max_prob")
_COLUMNS = ("sensitivity", "entropy", "sua", "max_prob")


def summarize_records(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Mean S, H, SUA, share of each signature, accuracy and failure AUROCs.

    One pass, memory O(N) floats. AUROCs (wrong vs right, higher score = more likely
    wrong) of every score of :data:`~sua.measures.failure_scores.FAILURE_SCORES`, only when
    gold labels are present.
    """
    cols: dict[str, list[float]] = {k: [] for k in _COLUMNS}
    correct: list[bool] = []
    signatures: Counter[str] = Counter()
    n = 0
    for rec in records:
        missing = [k for k in _NEEDED if k not in rec]
        if missing:
            raise SUAInputError(f"record {rec.get('id', n)!r} is not a score record "
                                f"(missing {', '.join(missing)}); summarize reads `sua score` output")
        n += 1
        for name in _COLUMNS:
            cols[name].append(float(rec[name]))
        signatures[rec["signature"]] += 1
        if rec.get("correct") is not None:
            correct.append(bool(rec["correct"]))
    if n == 0:
        raise SUAInputError("no score records to summarize")
    out: dict[str, Any] = {
        "n": n,
        "mean_sensitivity": float(np.mean(cols["sensitivity"])),
        "mean_entropy": float(np.mean(cols["entropy"])),
        "mean_sua": float(np.mean(cols["sua"])),
        "sua_risk": float(np.mean(np.maximum(cols["sua"], 0.0))),
        "signatures": {s: signatures.get(s, 0) / n for s in SIGNATURES},
    }
    if len(correct) == n:
        wrong = ~np.asarray(correct)
        out["accuracy"] = float(1.0 - wrong.mean())
        out["failure_auroc"] = {name: failure_auroc(failure_score(name, cols), wrong)
                                for name in FAILURE_SCORES}
    return out


def summarize_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """:func:`summarize_records` over a JSONL file written by ``sua score``."""
    return summarize_records(check_score_records((rec for _, rec in read_jsonl(path)), path))


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
    text = (f"reading: {best} ranks failures best (AUROC {top:.3f}, +{top - runner_up:.3f} over {second}; "
            "0.5 is chance)")
    if best != "sua" and "sua" in aurocs:
        text += f"; SUA scores {aurocs['sua']:.3f}"
    return text + "."


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a small plain-text table."""
    lines = [f"inputs            {summary['n']}"]
    if "accuracy" in summary:
        lines.append(f"accuracy          {summary['accuracy']:.4f}")
    lines += [
        f"mean S            {summary['mean_sensitivity']:.4f}",
        f"mean H            {summary['mean_entropy']:.4f}",
        f"mean SUA          {summary['mean_sua']:.4f}",
        f"SUA risk E[(SUA)+] {summary['sua_risk']:.4f}",
        "signatures",
    ]
    lines += [f"  {name:<19} {share:6.1%}" for name, share in summary["signatures"].items()]
    if "failure_auroc" in summary:
        lines.append("failure AUROC (wrong vs right)")
        lines += [f"  {name:<19} {v:.3f}" for name, v in summary["failure_auroc"].items()]
    lines.append(reading(summary))
    return "\n".join(lines)
