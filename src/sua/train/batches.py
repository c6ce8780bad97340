"""Which examples each optimizer step sees: seeded per-epoch orders cut into micro-batches."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BatchPlan:
    """Epoch ``e`` visits the examples in the order ``default_rng([seed, e]).permutation(N)``,
    cut into ``ceil(N / batch_size)`` micro-batches (the last may be smaller); micro-batches
    never straddle epochs, so each belongs to one epoch's perturbations. Training runs
    ``ceil(epochs · micro-batches per epoch)`` micro-batches, ``grad_accum`` per optimizer
    step (the last step may take fewer). Everything is a function of the step number, which
    is what makes resuming exact.

    With ``lengths`` (tokens per example) the epoch's order is length-bucketed: each window of
    :data:`BUCKET_BATCHES` · ``batch_size`` examples of the permutation is sorted by length
    (stable), cut into batches, and the full batches are shuffled with the same generator; the
    last, smaller batch stays last. Every example is still seen once per epoch.
    """

    n_examples: int
    batch_size: int
    grad_accum: int
    epochs: float
    seed: int
    lengths: tuple[int, ...] | None = None

    @property
    def per_epoch(self) -> int:
        return math.ceil(self.n_examples / self.batch_size)

    @property
    def n_micro(self) -> int:
        return max(1, math.ceil(self.epochs * self.per_epoch - 1e-9))

    @property
    def n_steps(self) -> int:
        return math.ceil(self.n_micro / self.grad_accum)

    @functools.lru_cache(maxsize=2)  # noqa: B019 - the plan is small, frozen and short-lived
    def order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.n_examples)
        if self.lengths is None:
            return order
        lengths = np.asarray(self.lengths)
        window = self.batch_size * BUCKET_BATCHES
        order = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                                for chunk in np.split(order, range(window, self.n_examples, window))])
        n_full = self.n_examples // self.batch_size
        full = order[:n_full * self.batch_size].reshape(n_full, self.batch_size)
        return np.concatenate([full[rng.permutation(n_full)].ravel(), order[n_full * self.batch_size:]])

    def micro_batches(self, step: int) -> list[tuple[int, np.ndarray]]:
        """``(epoch, example indices)`` of each micro-batch of optimizer step ``step``."""
        out = []
        for m in range(step * self.grad_accum, min((step + 1) * self.grad_accum, self.n_micro)):
            epoch, j = divmod(m, self.per_epoch)
            out.append((epoch, self.order(epoch)[j * self.batch_size:(j + 1) * self.batch_size]))
        return out

    def epoch_progress(self, steps_done: int) -> float:
        """Epochs completed after ``steps_done`` optimizer steps."""
        return min(steps_done * self.grad_accum, self.n_micro) / self.per_epoch


#: Length bucketing sorts windows of this many batches (BatchPlan).
BUCKET_BATCHES = 50


def linear_warmup_decay(n_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up over ``ceil(warmup_ratio·n_steps)`` steps (at least
    one), then linear decay to 0 at ``n_steps``."""
    warmup = max(1, math.ceil(warmup_ratio * n_steps))

    def factor(step: int) -> float:
        return min((step + 1) / warmup, max(0.0, (n_steps - step) / max(1, n_steps - warmup + 1)))

    return factor
