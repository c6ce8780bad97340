"""Batched SUA scoring of clean and perturbed inputs, streamed to JSONL."""

from sua.manifest import meta_path_for
from sua.records import PerturbationResult, ScoreRecord
from sua.scoring.qa import QAScorer
from sua.scoring.scorer import SUAScorer

__all__ = ["PerturbationResult", "QAScorer", "ScoreRecord", "SUAScorer", "meta_path_for"]
