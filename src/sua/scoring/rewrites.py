"""Which side of an input is rewritten, and the model inputs its K rewrites become: the one
place that decides it, for the scorers, the trainers and the experiment runner.

>>> from sua.inputs import Example
>>> ex = Example("1", "A man sleeps .", pair="Somebody sleeps .")
>>> side = rewritten_side(ex)
>>> side, rewritten_source(ex, side), with_rewrite(ex, side, "Someone sleeps .")
('pair', 'Somebody sleeps .', ('A man sleeps .', 'Someone sleeps .'))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.perturb.base import Perturbation, Perturber

PERTURB_FIELDS = ("auto", "text", "pair")


def check_perturb_field(perturb_field: str) -> str:
    """``perturb_field`` if it is one of :data:`PERTURB_FIELDS`, else an actionable error."""
    if perturb_field not in PERTURB_FIELDS:
        raise SUAInputError(f"perturb_field must be one of {PERTURB_FIELDS}, got {perturb_field!r}")
    return perturb_field


def rewritten_side(ex: Example, perturb_field: str = "auto") -> str:
    """``"text"`` or ``"pair"``, the side of ``ex`` that is rewritten: ``perturb_field``, where
    ``"auto"`` means the second text of a pair and the text otherwise."""
    field = ("text" if ex.pair is None else "pair") if check_perturb_field(perturb_field) == "auto" \
        else perturb_field
    if field == "pair" and ex.pair is None:
        raise SUAInputError(f"example {ex.id!r} has no pair text but perturb_field='pair'")
    return field


def rewritten_source(ex: Example, side: str) -> str:
    """The text of ``ex`` on ``side`` (of :func:`rewritten_side`), the one the perturber rewrites."""
    return ex.text if side == "text" else str(ex.pair)


def with_rewrite(ex: Example, side: str, text: str) -> ModelInput:
    """The model input of ``ex`` with its ``side`` replaced by ``text``; the other segment of a
    pair is kept as it is."""
    if ex.pair is None:
        return text
    return (text, ex.pair) if side == "text" else (ex.text, text)


def input_builder(examples: Sequence[Example],
                  perturb_field: str = "auto") -> Callable[[str, str], ModelInput]:
    """``to_model_input(input id, rewritten text)`` for ``examples``: the full model input of a
    rewrite (the premise put back for NLI), as the adversarial search needs it."""
    by_id = {ex.id: ex for ex in examples}

    def to_model_input(input_id: str, text: str) -> ModelInput:
        ex = by_id[input_id]
        return with_rewrite(ex, rewritten_side(ex, perturb_field), text)

    return to_model_input


def prepare_rewrites(examples: Sequence[Example], perturber: Perturber, *, k: int, seed: int,
                     perturb_field: str = "auto") -> None:
    """Let ``perturber`` do its batched work (``prepare``: e.g. back-translating every sentence
    at once, on several threads) for the examples about to be rewritten; with a disk cache
    (``has``), only for those whose draws are not stored yet."""
    prepare = getattr(perturber, "prepare", None)
    if prepare is None:
        return
    has = getattr(perturber, "has", None)
    sources = [(ex, rewritten_source(ex, rewritten_side(ex, perturb_field))) for ex in examples]
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
    side = rewritten_side(ex, perturb_field)
    draws = perturber.perturb(rewritten_source(ex, side), k, input_id=ex.id, seed=seed)
    if len(draws) != k:
        raise SUAInputError(f"perturber returned {len(draws)} perturbations for {ex.id!r}, expected k={k}")
    return draws, [with_rewrite(ex, side, d.text) for d in draws]
