"""The SUA-TR objective (eq. 15–18) as a torch module."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from sua import defaults
from sua.errors import SUAInputError
from sua.measures import entropy, get_divergence, sensitivity, sua_risk, sua_score

STOP_GRAD_SIDES = ("perturbed", "clean")


@dataclass(frozen=True)
class LossTerms:
    """One evaluation of :class:`SUATRLoss`.

    ``total`` is differentiable; ``task``, ``cons`` and ``align`` are the (detached) terms of
    eq. 15, ``sensitivity`` and ``entropy`` the batch means of Ŝ(x) and H(x) (detached;
    ``sensitivity`` is NaN when no perturbed predictions were given).
    """

    total: torch.Tensor
    task: torch.Tensor
    cons: torch.Tensor
    align: torch.Tensor
    sensitivity: torch.Tensor
    entropy: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        """The logged numbers: ``loss, task, cons, align, S, H``."""
        names = {"loss": self.total, "task": self.task, "cons": self.cons, "align": self.align,
                 "S": self.sensitivity, "H": self.entropy}
        return {k: float(v.detach()) for k, v in names.items()}

    @staticmethod
    def mean(terms: list[LossTerms]) -> LossTerms:
        """The term-by-term mean of several evaluations (e.g. of a QA model's start and end heads)."""
        if len(terms) == 1:
            return terms[0]
        names = [f.name for f in dataclasses.fields(LossTerms)]
        return LossTerms(**{k: torch.stack([getattr(t, k) for t in terms]).mean() for k in names})


class SUATRLoss(torch.nn.Module):
    """``L = L_task + α·L_cons + β·L_align`` (eq. 15) from clean and perturbed logits.

    With ``p = softmax(clean_logits)`` (N, C), ``p'_k = softmax(perturbed_logits[:, k])``
    (N, K, C), labels ``y`` and ``D`` the registered divergence ``divergence``:

    - ``L_task  = mean_n −log p_n(y_n)`` (eq. 16);
    - ``L_cons  = mean_{n,k} D(p_n ‖ sg[p'_nk])`` (eq. 17) with ``stop_grad="perturbed"``
      (the paper), or ``mean_{n,k} D(sg[p_n] ‖ p'_nk)`` with ``stop_grad="clean"``
      (SMART-style: the clean prediction is the fixed target);
    - ``L_align = mean_n (Ŝ_n − λ·H_n)_+`` (eq. 18), ``Ŝ_n = mean_k`` of the *same*
      K divergences (same stop-gradient side) and ``H_n = −Σ_c p_nc log p_nc``.

    Gradients: ``L_task`` and ``H`` always differentiate through ``p``. The divergences in
    ``L_cons`` and in ``Ŝ`` share the stop-gradient, so with ``stop_grad="perturbed"``
    no gradient ever reaches ``p'`` — for any α and β — and the perturbed forward passes can
    run without a graph. With ``stop_grad="clean"`` gradients reach ``p'`` only.
    With α = β = 0 the perturbed logits are not needed (pass ``None``).

    Several heads (extractive QA: a start and an end distribution over the context positions):
    ``clean_logits`` (N, H, C), ``labels`` (N, H), ``perturbed_logits`` (N, K, H, C); each head
    is a distribution of its own, and every term is the mean over the H heads of its value for
    that head (so ``L_task = (CE_start + CE_end) / 2`` for QA). Positions a row lacks are given
    a large negative logit (probability 0, which adds nothing to H or D).

    >>> loss = SUATRLoss(alpha=1.0, beta=1.0, lam=1.0)
    >>> terms = loss(torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(2, 4, 3))
    >>> round(float(terms.task), 4), float(terms.cons), float(terms.align)
    (1.0986, 0.0, 0.0)
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, lam: float = defaults.LAM,
                 divergence: str = defaults.DIVERGENCE, stop_grad: str = "perturbed") -> None:
        super().__init__()
        for name, value in (("alpha", alpha), ("beta", beta), ("lam", lam)):
            if not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise SUAInputError(f"{name} must be a finite number >= 0, got {value!r}")
        if stop_grad not in STOP_GRAD_SIDES:
            raise SUAInputError(f"stop_grad must be one of {STOP_GRAD_SIDES}, got {stop_grad!r}")
        get_divergence(divergence)  # an unknown name fails here, not at the first step
        self.alpha, self.beta, self.lam = float(alpha), float(beta), float(lam)
        self.divergence = divergence
        self.stop_grad = stop_grad

    @property
    def needs_perturbed(self) -> bool:
        """Whether the perturbed predictions enter the loss (α > 0 or β > 0)."""
        return self.alpha > 0 or self.beta > 0

    @property
    def perturbed_needs_graph(self) -> bool:
        """Whether gradients flow into the perturbed predictions (only with ``stop_grad="clean"``)."""
        return self.needs_perturbed and self.stop_grad == "clean"

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, beta={self.beta}, lam={self.lam}, "
                f"divergence={self.divergence!r}, stop_grad={self.stop_grad!r}")

    def forward(self, clean_logits: torch.Tensor, labels: torch.Tensor,
                perturbed_logits: torch.Tensor | None = None) -> LossTerms:
        """Evaluate the loss: ``clean_logits`` (N, C), ``labels`` (N,) class ids,
        ``perturbed_logits`` (N, K, C) or ``None`` when α = β = 0; or with a head axis,
        (N, H, C), (N, H) and (N, K, H, C), averaged over the heads."""
        if clean_logits.dim() == 3:
            return LossTerms.mean([
                self(clean_logits[:, h], labels[:, h],
                     None if perturbed_logits is None else perturbed_logits[:, :, h])
                for h in range(clean_logits.shape[1])])
        task = torch.nn.functional.cross_entropy(clean_logits, labels)
        p = torch.softmax(clean_logits, dim=-1)
        h = entropy(p)
        zero = task.new_zeros(())
        if perturbed_logits is None:
            if self.needs_perturbed:
                raise SUAInputError("alpha or beta is > 0, so the loss needs perturbed_logits "
                                    "(N, K, C)")
            return LossTerms(task, task.detach(), zero, zero, zero.new_tensor(math.nan),
                             h.detach().mean())
        q = torch.softmax(perturbed_logits, dim=-1)
        if self.stop_grad == "perturbed":
            source, q = p, q.detach()
        else:
            source = p.detach()
        per = sensitivity(source, q, divergence=self.divergence).per_perturbation
        cons = per.mean()
        s = per.mean(dim=1)
        align = sua_risk(sua_score(s, h, self.lam))
        total = task + self.alpha * cons + self.beta * align
        return LossTerms(total, task.detach(), cons.detach(), align.detach(),
                         s.detach().mean(), h.detach().mean())
