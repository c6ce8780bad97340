"""File-level calls behind `sua abstain fit` and `sua abstain apply`: scores JSONL in,
policy JSON or decisions JSONL out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from sua.manifest import meta_path_for, versions, write_manifest
from sua.outputs import guarded_output, write_text_atomic
from sua.selective._records import load_scores, scores_path
from sua.selective.policy import DEFAULT_SCORE, AbstentionPolicy, Lam, _jsonable
from sua.validate import POLICY_SCORE_SETTINGS, check_policy_matches_scores


def fit_policy_file(scores: str | os.PathLike[str], out_policy: str | os.PathLike[str], *,
                    target_coverage: float | None = None, target_risk: float | None = None,
                    delta: float = 0.05, score: str = DEFAULT_SCORE,
                    lam: Lam | None = None) -> AbstentionPolicy:
    """Fit an :class:`AbstentionPolicy` on a ``sua score`` output and save it as JSON.

    ``lam=None`` uses the λ the scores were computed with (the run's config, else 1);
    ``"select"`` chooses it on these records. Give exactly one of ``target_coverage`` and
    ``target_risk``. The saved policy records the scores file it was fitted on.
    """
    records, config = load_scores(scores)
    policy = AbstentionPolicy(score=score, lam=config.get("lam", 1.0) if lam is None else lam)
    policy.fit(records, target_coverage=target_coverage, target_risk=target_risk, delta=delta)
    policy.fit_report_["scores"] = str(scores_path(scores))
    policy.fit_report_["scores_config"] = {k: config[k] for k in POLICY_SCORE_SETTINGS if k in config}
    with guarded_output(out_policy, scores_path(scores), meta_path_for(scores_path(scores))):
        policy.save(out_policy)
    return policy


def apply_policy_file(policy: str | os.PathLike[str], scores: str | os.PathLike[str],
                      out: str | os.PathLike[str]) -> dict[str, Any]:
    """Apply a saved policy to a ``sua score`` output; write one decision per line to ``out``.

    Each line is :meth:`AbstentionPolicy.explain`'s dict (id, prediction, abstain, reason,
    signature, S, H, λ, SUA, thresholds); ``out`` is replaced atomically (never one of the
    inputs, locked against a second writer), and ``<out stem>.meta.json``
    records the policy, the scores file and the versions. Returns a summary: ``n``,
    ``abstained``, ``coverage``, ``selective_accuracy`` (labelled records, something
    answered) and ``out``.
    """
    fitted = AbstentionPolicy.load(policy)
    records, config = load_scores(scores)
    check_policy_matches_scores(fitted.fit_report_, config, policy)
    decisions = fitted.explain(records)
    out_path = Path(out)
    inputs = (policy, scores_path(scores), meta_path_for(scores_path(scores)))
    with guarded_output(out_path, *inputs), guarded_output(meta_path_for(out_path), *inputs):
        lines = (json.dumps(_jsonable(d), ensure_ascii=False, allow_nan=False) + "\n" for d in decisions)
        write_text_atomic(out_path, "".join(lines))
        write_manifest(meta_path_for(out_path),
                       {"policy": str(policy), "scores": str(scores_path(scores)), "versions": versions()})
    answered = np.array([not d["abstain"] for d in decisions])
    summary: dict[str, Any] = {"n": len(decisions), "abstained": int((~answered).sum()),
                               "coverage": float(answered.mean())}
    right = [d["correct"] for d, a in zip(decisions, answered, strict=True) if a]
    if right and all(c is not None for c in right):
        summary["selective_accuracy"] = float(np.mean(right))
    summary["out"] = str(out_path)
    return summary
