"""Batched SUA scoring of clean and perturbed inputs, streamed to JSONL."""

from sua.scoring.records import PerturbationResult, ScoreRecord
from sua.scoring.scorer import SUAScorer, meta_path_for, versions

__all__ = ["PerturbationResult", "ScoreRecord", "SUAScorer", "meta_path_for", "versions"]
