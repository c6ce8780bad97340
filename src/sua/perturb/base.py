"""The perturbation record, the Perturber contract and the per-input random stream."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Perturbation:
    """One draw x' ~ Q_x, with a frozen description of how it was made.

    ``kind`` is the concrete edit (``"typo"``, ``"casing"``, ...), ``family`` the group it
    belongs to (``"token"``, ``"paraphrase"``, ``"adversarial"``), ``params`` the edit's
    parameters, ``seed`` the run seed, ``similarity`` the semantic similarity to the source
    when a constraint measured it, ``constraints`` the checks it passed.
    """

    text: str
    kind: str
    family: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    similarity: float | None = None
    constraints: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Perturber(Protocol):
    """Draws K meaning-preserving rewrites of one text.

    ``perturb(text, k, input_id=..., seed=...)`` returns exactly ``k`` records. The result
    depends only on (text, k, input_id, seed) and the perturber's configuration, never on
    call order, so runs are reproducible in any batch order.
    """

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]: ...


def input_rng(seed: int, input_id: str) -> np.random.Generator:
    """A random stream owned by one (seed, input id): independent of batch order.

    The id is hashed with SHA-256 (not Python's salted ``hash``) so streams are stable
    across processes.
    """
    digest = hashlib.sha256(input_id.encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])
