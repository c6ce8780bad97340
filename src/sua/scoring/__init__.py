"""Batched SUA scoring of clean and perturbed inputs, streamed to JSONL."""

from sua.manifest import meta_path_for
from sua.records import PerturbationResult, ScoreRecord
from sua.scoring.config import Fields, ScoringConfig
from sua.scoring.qa import QAScorer
from sua.scoring.scorer import SUAScorer

#: The scorer of each encoder task head (:data:`sua.tasks.HEADS`; ``generative`` is
#: :class:`~sua.scoring.generative.GenerativeSUAScorer`, built from a language model).
SCORERS: dict[str, type[SUAScorer]] = {"classification": SUAScorer, "qa": QAScorer}

__all__ = ["SCORERS", "Fields", "PerturbationResult", "QAScorer", "ScoreRecord", "SUAScorer", "ScoringConfig",
           "meta_path_for"]
