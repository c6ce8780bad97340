"""Batched SUA scoring of clean and perturbed inputs, streamed to JSONL."""

from sua.scoring.qa import QAScorer
from sua.scoring.records import PerturbationResult, ScoreRecord
from sua.scoring.scorer import SUAScorer, meta_path_for, versions

__all__ = ["PerturbationResult", "QAScorer", "ScoreRecord", "SUAScorer", "meta_path_for", "versions"]
