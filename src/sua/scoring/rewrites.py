"""The K rewrites of an input and the model inputs they make, for the scorers and the trainers;
which side is rewritten is decided in :mod:`sua.tasks`."""

from __future__ import annotations

from collections.abc import Sequence

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.perturb.base import Perturbation, Perturber
from sua.tasks import rewritten_side, rewritten_source, with_rewrite


def prepare_rewrites(examples: Sequence[Example], perturber: Perturber, *, k: int, seed: int,
                     perturb_field: str = "auto") -> None:
    """Let ``perturber`` do its batched work for the examples about to be rewritten: ``prepare``
    (e.g. back-translating every sentence at once, on several threads; with a disk cache,
    ``has``, only for those whose draws are not stored yet), then ``prepare_searches`` (the
    adversarial searches against the model, run together)."""
    prepare = getattr(perturber, "prepare", None)
    searches = getattr(perturber, "prepare_searches", None)
    if prepare is None and searches is None:
        return
    has = getattr(perturber, "has", None)
    sources = [(ex, rewritten_source(ex, rewritten_side(ex, perturb_field))) for ex in examples]
    missing = [(ex, text) for ex, text in sources
               if has is None or not has(text, k, input_id=ex.id, seed=seed)]
    if prepare is not None and missing:
        prepare(list(dict.fromkeys(text for _, text in missing)))
    if searches is not None and missing:
        searches([(text, ex.id, seed) for ex, text in missing], k)


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
