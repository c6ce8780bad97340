"""Which side of an input is rewritten, and the model inputs its K rewrites become."""

from __future__ import annotations

from collections.abc import Sequence

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.perturb.base import Perturbation, Perturber

PERTURB_FIELDS = ("auto", "text", "pair")


def _side(ex: Example, perturb_field: str) -> str:
    """The text of ``ex`` that is rewritten (see :func:`rewritten_inputs`)."""
    if perturb_field not in PERTURB_FIELDS:
        raise SUAInputError(f"perturb_field must be one of {PERTURB_FIELDS}, got {perturb_field!r}")
    field = ("text" if ex.pair is None else "pair") if perturb_field == "auto" else perturb_field
    if field == "pair" and ex.pair is None:
        raise SUAInputError(f"example {ex.id!r} has no pair text but perturb_field='pair'")
    return field


def prepare_rewrites(examples: Sequence[Example], perturber: Perturber, *, k: int, seed: int,
                     perturb_field: str = "auto") -> None:
    """Let ``perturber`` do its batched work (``prepare``: e.g. back-translating every sentence
    at once, on several threads) for the examples about to be rewritten; with a disk cache
    (``has``), only for those whose draws are not stored yet."""
    prepare = getattr(perturber, "prepare", None)
    if prepare is None:
        return
    has = getattr(perturber, "has", None)
    sources = [(ex, ex.text if _side(ex, perturb_field) == "text" else ex.pair) for ex in examples]
    texts = [text for ex, text in sources
             if has is None or not has(text, k, input_id=ex.id, seed=seed)]
    if texts:
        prepare(list(dict.fromkeys(texts)))


def rewritten_inputs(ex: Example, perturber: Perturber, *, k: int, seed: int,
                     perturb_field: str = "auto") -> tuple[list[Perturbation], list[ModelInput]]:
    """K draws x'_k ~ Q_x of one side of ``ex`` and the model inputs they make.

    ``perturb_field``: ``"text"`` (the single text, or the first segment of a pair),
    ``"pair"`` (the second segment: an NLI hypothesis, a QA question) or ``"auto"`` (the pair
    when there is one). The other segment of a pair is kept as it is.
    """
    field = _side(ex, perturb_field)
    source = ex.text if field == "text" else ex.pair
    draws = perturber.perturb(source, k, input_id=ex.id, seed=seed)
    if len(draws) != k:
        raise SUAInputError(f"perturber returned {len(draws)} perturbations for {ex.id!r}, expected k={k}")
    if ex.pair is None:
        return draws, [d.text for d in draws]
    return draws, [(d.text, ex.pair) if field == "text" else (ex.text, d.text) for d in draws]
