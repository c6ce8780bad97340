"""The perturbation record, the Perturber contract and the per-input random stream."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import cycle
from numbers import Integral
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sua.errors import SUAInputError


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


#: One input's draw request: the text to rewrite, its input id and the seed.
DrawRequest = tuple[str, str, int]


def prepare_draws(perturber: Perturber, requests: Sequence[DrawRequest], k: int) -> None:
    """Let ``perturber`` do its batched work ahead of its draws of ``k`` for ``requests``: its
    own ``prepare_draws(requests, k)`` when it has one (a mixture, a cache, the adversarial
    search), else its ``prepare(texts)`` (all translations, all POS tags at once), else nothing."""
    own = getattr(perturber, "prepare_draws", None)
    if own is not None:
        own(requests, k)
        return
    prepare = getattr(perturber, "prepare", None)
    if prepare is not None and requests:
        prepare(list(dict.fromkeys(text for text, _, _ in requests)))


def input_rng(seed: int, input_id: str) -> np.random.Generator:
    """A random stream owned by one (seed, input id): independent of batch order.

    The id is hashed with SHA-256 (not Python's salted ``hash``) so streams are stable
    across processes.
    """
    digest = hashlib.sha256(input_id.encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


@runtime_checkable
class Proposer(Perturber, Protocol):
    """A perturber that can also return fewer than K: ``propose(text, n, ...)`` gives up to ``n``
    distinct rewrites that differ from ``text``, best or first-drawn first, so a mixture can
    see when a family runs short and fall back to another."""

    family: str

    def propose(self, text: str, n: int, *, input_id: str, seed: int) -> list[Perturbation]: ...


def check_request(text: str, k: int, input_id: str, seed: int) -> None:
    """Raise :class:`SUAInputError` unless the arguments of ``perturb``/``propose`` are usable."""
    if not isinstance(text, str) or not text:
        raise SUAInputError(f"text to perturb must be a non-empty string, got {text!r} (input {input_id!r})")
    if not is_int(k) or k < 1:
        raise SUAInputError(f"k (perturbations per input) must be an integer >= 1, got {k!r}")
    if not isinstance(input_id, str):
        raise SUAInputError(f"input_id must be a string, got {input_id!r}")
    if not is_int(seed) or seed < 0:
        raise SUAInputError(f"seed must be an integer >= 0, got {seed!r}")


def is_int(value: object) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def identity(text: str, family: str, seed: int, reason: str) -> Perturbation:
    """The source itself (``kind="identity"``): what a perturber returns when it has no rewrite."""
    return Perturbation(text, "identity", family, {"reason": reason}, seed)


def repeat_to_k(proposals: list[Perturbation], k: int, text: str, family: str,
                seed: int) -> list[Perturbation]:
    """Exactly ``k`` records from ``proposals``: the first ``k``, else all of them cycled, the
    repeats marked ``params["repeat"] = True``; ``k`` identities when there is none."""
    if not proposals:
        return [identity(text, family, seed, "no rewrite found") for _ in range(k)]
    return [p if i < len(proposals) else replace(p, params={**p.params, "repeat": True})
            for i, p in zip(range(k), cycle(proposals))]
