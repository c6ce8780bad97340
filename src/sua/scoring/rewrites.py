"""Which side of an input is rewritten, and the model inputs its K rewrites become."""

from __future__ import annotations

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.perturb.base import Perturbation, Perturber

PERTURB_FIELDS = ("auto", "text", "pair")


def rewritten_inputs(ex: Example, perturber: Perturber, *, k: int, seed: int,
                     perturb_field: str = "auto") -> tuple[list[Perturbation], list[ModelInput]]:
    """K draws x'_k ~ Q_x of one side of ``ex`` and the model inputs they make.

    ``perturb_field``: ``"text"`` (the single text, or the first segment of a pair),
    ``"pair"`` (the second segment: an NLI hypothesis, a QA question) or ``"auto"`` (the pair
    when there is one). The other segment of a pair is kept as it is.
    """
    if perturb_field not in PERTURB_FIELDS:
        raise SUAInputError(f"perturb_field must be one of {PERTURB_FIELDS}, got {perturb_field!r}")
    field = ("text" if ex.pair is None else "pair") if perturb_field == "auto" else perturb_field
    if field == "pair" and ex.pair is None:
        raise SUAInputError(f"example {ex.id!r} has no pair text but perturb_field='pair'")
    source = ex.text if field == "text" else ex.pair
    draws = perturber.perturb(source, k, input_id=ex.id, seed=seed)
    if len(draws) != k:
        raise SUAInputError(f"perturber returned {len(draws)} perturbations for {ex.id!r}, expected k={k}")
    if ex.pair is None:
        return draws, [d.text for d in draws]
    return draws, [(d.text, ex.pair) if field == "text" else (ex.text, d.text) for d in draws]
