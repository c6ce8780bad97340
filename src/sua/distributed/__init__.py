"""Running sua beyond one process: Ray for scoring and perturbing (this package needs
``pip install 'sua[ray]'``)."""

from sua.distributed.perturb import RayPerturbEngine
from sua.distributed.scoring import RayScoringEngine, needs_model

__all__ = ["RayPerturbEngine", "RayScoringEngine", "needs_model"]
