"""Adversarial training's inner maximisation: PGD on the word embeddings (Madry et al., 2018)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from sua.errors import SUAInputError

#: ``linf``: every coordinate of δ within [−ε, ε]; ``l2``: the Frobenius norm of one example's
#: δ over all its (non-padding) tokens at most ε.
NORMS = ("linf", "l2")


def _logits(output: Any) -> torch.Tensor:
    return output.logits


def summed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Σ_n CE(logits_n, y_n) for (N, C) logits, or Σ_{n,h} over heads for (N, H, C) and (N, H)."""
    if logits.dim() == 3:
        logits = logits.transpose(1, 2)  # cross_entropy wants the class axis second
    return torch.nn.functional.cross_entropy(logits, labels, reduction="sum")


def _example_norm(x: torch.Tensor) -> torch.Tensor:
    """Per-example Frobenius norm of (N, L, d), shaped (N, 1, 1) for broadcasting."""
    return x.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)


@dataclass(frozen=True)
class EmbeddingPGD:
    """Projected gradient ascent on an additive perturbation δ of the word embeddings.

    ``δ_0`` is uniform in the ε-ball (``random_init``) or 0; then ``steps`` times
    ``δ ← Π_ε(δ + step_size · dir(∇_δ L_task(f(E + δ), y)))`` with ``dir = sign`` for
    ``linf`` and ``g/‖g‖₂`` (per example) for ``l2``; ``Π_ε`` clamps every coordinate
    (``linf``) or rescales an example's δ to norm ε when it is longer (``l2``). δ is 0 on
    padding positions. ``E`` are the model's input word embeddings (before position and
    token-type embeddings are added); the model stays in its current mode (dropout on in
    training) and its parameter gradients are not touched. ``read`` turns the model's output
    into the logits the task loss needs (default ``output.logits``; for extractive QA the
    start/end logits of the context, (N, 2, L), with labels (N, 2)).
    """

    epsilon: float
    step_size: float
    steps: int
    norm: str = "linf"
    random_init: bool = True

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise SUAInputError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.epsilon <= 0 or self.step_size <= 0 or self.steps < 1:
            raise SUAInputError(f"PGD needs epsilon > 0, step_size > 0 and steps >= 1; got "
                                f"{self.epsilon}, {self.step_size}, {self.steps}")

    def _project(self, delta: torch.Tensor) -> torch.Tensor:
        if self.norm == "linf":
            return delta.clamp(-self.epsilon, self.epsilon)
        return delta * (self.epsilon / _example_norm(delta)).clamp_max(1.0)

    def _direction(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.sign() if self.norm == "linf" else grad / _example_norm(grad)

    def _init(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.random_init:
            return torch.zeros_like(embeds)
        if self.norm == "linf":
            return (torch.rand_like(embeds) * 2 - 1) * self.epsilon * mask
        noise = torch.randn_like(embeds) * mask
        radius = torch.rand(embeds.shape[0], 1, 1, dtype=embeds.dtype, device=embeds.device)
        return noise / _example_norm(noise) * radius * self.epsilon

    def perturbation(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                     labels: torch.Tensor,
                     read: Callable[[Any], torch.Tensor] = _logits) -> torch.Tensor:
        """The adversarial δ (N, L, d) for one padded ``batch`` (detached, within the ε-ball)."""
        with torch.no_grad():
            embeds = model.get_input_embeddings()(batch["input_ids"])
        mask = batch["attention_mask"].unsqueeze(-1).to(embeds.dtype)
        rest = {k: v for k, v in batch.items() if k != "input_ids"}
        delta = self._init(embeds, mask)
        for _ in range(self.steps):
            delta.requires_grad_(True)
            loss = summed_cross_entropy(read(model(inputs_embeds=embeds + delta, **rest)), labels)
            (grad,) = torch.autograd.grad(loss, delta)
            delta = self._project((delta.detach() + self.step_size * self._direction(grad)) * mask)
        return delta.detach()

    def logits(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
               labels: torch.Tensor, read: Callable[[Any], torch.Tensor] = _logits) -> torch.Tensor:
        """Logits of ``f(E + δ)`` with a graph to the parameters (word embeddings included)."""
        delta = self.perturbation(model, batch, labels, read)
        rest = {k: v for k, v in batch.items() if k != "input_ids"}
        embeds = model.get_input_embeddings()(batch["input_ids"])
        return read(model(inputs_embeds=embeds + delta, **rest))
