"""The K rewrites of an input and the model inputs they make, for the scorers and the trainers;
which side is rewritten is decided in :mod:`sua.tasks`."""

from __future__ import annotations

from collections.abc import Sequence

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.perturb.base import Perturbation, Perturber, prepare_draws
from sua.tasks import rewritten_side, rewritten_source, with_rewrite


def prepare_rewrites(examples: Sequence[Example], perturber: Perturber, *, k: int, seed: int,
                     perturb_field: str = "auto") -> None:
    """Let ``perturber`` do its batched work for the examples about to be rewritten whose draws
    it does not store yet (a disk cache's ``has``): :func:`~sua.perturb.base.prepare_draws`
    (e.g. back-translating every sentence at once, on several threads; the adversarial searches
    against the model, run together)."""
    if not (hasattr(perturber, "prepare_draws") or hasattr(perturber, "prepare")):
        return
    has = getattr(perturber, "has", None)
    requests = [(rewritten_source(ex, rewritten_side(ex, perturb_field)), ex.id, seed) for ex in examples]
    prepare_draws(perturber, [(text, input_id, seed) for text, input_id, seed in requests
                              if has is None or not has(text, k, input_id=input_id, seed=seed)], k)


def rewritten_inputs(ex: Example, perturber: Perturber, *, k: int, seed: int,
                     perturb_field: str = "auto") -> tuple[list[Perturbation], list[ModelInput]]:
    """K draws x'_k ~ Q_x of one side of ``ex`` and the model inputs they make.

    ``perturb_field``: ``"text"`` (the single text, or the first segment of a pair),
    ``"pair"`` (the second segment: an NLI hypothesis, a QA question) or ``"auto"`` (the pair
    when there is one). The other segment of a pair is kept as it is.
    """
    side = rewritten_side(ex, perturb_field)
    draws = perturber.perturb(rewritten_source(ex, side), k, input_id=ex.id, seed=seed)
    if len(draws) != k:
        raise SUAInputError(f"perturber returned {len(draws)} perturbations for {ex.id!r}, expected k={k}")
    return draws, [with_rewrite(ex, side, d.text) for d in draws]
