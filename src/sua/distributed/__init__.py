"""Running sua beyond one process: Ray for scoring, perturbing and experiment units (this
package needs ``pip install 'sua[ray]'``)."""

from sua.distributed.perturb import RayPerturbEngine
from sua.distributed.scoring import RayScoringEngine, needs_model
from sua.distributed.units import RayUnitEngine

__all__ = ["RayPerturbEngine", "RayScoringEngine", "RayUnitEngine", "needs_model"]
