"""Training rewrites x' ~ Q_x (the side rewritten is decided in :mod:`sua.scoring.rewrites`) and
the perturber that draws them."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.perturb import PERTURBERS, Perturber, get_perturber
from sua.scoring.rewrites import input_builder, prepare_rewrites, rewritten_inputs
from sua.train.config import TrainConfig


def perturbed_inputs(example: Example, perturber: Perturber, k: int, *, seed: int,
                     field: str = "auto") -> list[ModelInput]:
    """``k`` model inputs ``x'`` for ``example``, one side rewritten by ``perturber``
    (:func:`sua.scoring.rewrites.rewritten_inputs`)."""
    return rewritten_inputs(example, perturber, k=k, seed=seed, perturb_field=field)[1]


def draw_rewrites(perturber: Perturber, examples: Sequence[Example], k: int, *, seed: int,
                  field: str = "auto") -> list[list[ModelInput]]:
    """``k`` rewrites of every example (a perturber's optional batch ``prepare`` runs first)."""
    prepare_rewrites(examples, perturber, k=k, seed=seed, perturb_field=field)
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
        options.setdefault("to_model_input", input_builder(examples, config.perturb_field))
    try:
        return get_perturber(config.perturber, **options)
    except TypeError as err:
        raise SUAInputError(f"perturber {config.perturber!r} rejected the options "
                            f"{sorted(options)}: {err}") from err
