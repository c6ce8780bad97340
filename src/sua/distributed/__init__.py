"""Running sua beyond one process: Ray for scoring (this package needs ``pip install 'sua[ray]'``)."""

from sua.distributed.scoring import RayScoringEngine, needs_model

__all__ = ["RayScoringEngine", "needs_model"]
