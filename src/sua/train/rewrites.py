"""Training rewrites x' ~ Q_x (the side rewritten is decided in :mod:`sua.scoring.rewrites`) and
the perturber that draws them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.perturb import PERTURBERS, Perturber, build_perturber
from sua.scoring.rewrites import prepare_rewrites, rewritten_inputs
from sua.tasks import input_builder
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


def make_perturber(config: TrainConfig, *, model: Any = None, examples: Sequence[Example] = ()) -> Perturber:
    """``config.perturber`` built with ``config.perturber_options`` against ``model`` (the
    classifier being trained) and the full inputs of ``examples`` (the premise put back for NLI)
    (:func:`sua.perturb.registry.build_perturber`: each family gets what it takes)."""
    check_family(config.perturber)
    return build_perturber(config.perturber, model=model,
                           to_model_input=input_builder(examples, config.perturb_field) if examples else None,
                           **config.perturber_options)
