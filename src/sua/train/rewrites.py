"""Training rewrites x' ~ Q_x: which side of an input is rewritten, and the perturber that does it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.perturb import PERTURBERS, Perturber, get_perturber
from sua.train.config import TrainConfig


def rewritten_side(example: Example, field: str = "auto") -> str:
    """``"text"`` or ``"pair"``: ``field``, where ``"auto"`` means the second text of a pair
    and the text otherwise (as :class:`~sua.scoring.SUAScorer`)."""
    side = ("text" if example.pair is None else "pair") if field == "auto" else field
    if side == "pair" and example.pair is None:
        raise SUAInputError(f"example {example.id!r} has no pair text but perturb_field='pair'")
    return side


def with_rewrite(example: Example, side: str, text: str) -> ModelInput:
    """The model input of ``example`` with its ``side`` replaced by ``text``."""
    if example.pair is None:
        return text
    return (text, example.pair) if side == "text" else (example.text, text)


def perturbed_inputs(example: Example, perturber: Perturber, k: int, *, seed: int,
                     field: str = "auto") -> list[ModelInput]:
    """``k`` model inputs ``x'`` for ``example``, one side rewritten by ``perturber``."""
    side = rewritten_side(example, field)
    source = example.text if side == "text" else example.pair
    draws = perturber.perturb(source, k, input_id=example.id, seed=seed)
    if len(draws) != k:
        raise SUAInputError(f"perturber returned {len(draws)} rewrites of {example.id!r}, expected {k}")
    return [with_rewrite(example, side, d.text) for d in draws]


def draw_rewrites(perturber: Perturber, examples: Sequence[Example], k: int, *, seed: int,
                  field: str = "auto") -> list[list[ModelInput]]:
    """``k`` rewrites of every example (a perturber's optional batch ``prepare`` runs first)."""
    prepare = getattr(perturber, "prepare", None)
    if callable(prepare):
        prepare([ex.text if rewritten_side(ex, field) == "text" else ex.pair for ex in examples])
    return [perturbed_inputs(ex, perturber, k, seed=seed, field=field) for ex in examples]


def check_family(name: str) -> None:
    """Raise an actionable error unless ``name`` is a registered perturbation family."""
    if name not in PERTURBERS:
        raise SUAInputError(
            f"this run needs the perturbation family {name!r}, which is not registered in "
            f"sua.perturb (registered: {', '.join(sorted(PERTURBERS))}); register it, choose "
            "another perturber, or pass a Perturber instance to SUATrainer(perturber=...)")


def build_perturber(config: TrainConfig, *, model: Any = None,
                    examples: Sequence[Example] = ()) -> Perturber:
    """``get_perturber(config.perturber, **config.perturber_options)``.

    Families whose constructor takes ``model`` (the adversarial search, the mixture) get
    ``model`` — the classifier being trained — and those taking ``to_model_input`` get the map
    from ``(input id, rewritten text)`` to the full input of ``examples`` (the premise put back
    for NLI), unless the options set them.
    """
    check_family(config.perturber)
    options = dict(config.perturber_options)
    accepted = inspect.signature(PERTURBERS[config.perturber]).parameters
    if "model" in accepted and model is not None:
        options.setdefault("model", model)
    if "to_model_input" in accepted and examples:
        options.setdefault("to_model_input", _input_builder(examples, config.perturb_field))
    try:
        return get_perturber(config.perturber, **options)
    except TypeError as err:
        raise SUAInputError(f"perturber {config.perturber!r} rejected the options "
                            f"{sorted(options)}: {err}") from err


def _input_builder(examples: Sequence[Example], field: str) -> Callable[[str, str], ModelInput]:
    by_id = {ex.id: ex for ex in examples}

    def to_model_input(input_id: str, text: str) -> ModelInput:
        ex = by_id[input_id]
        return with_rewrite(ex, rewritten_side(ex, field), text)

    return to_model_input
