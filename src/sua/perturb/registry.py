"""Perturbation families by name: adding one is one class plus one :data:`PERTURBERS` line."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.perturb.adversarial import AdversarialPerturber
from sua.perturb.base import Perturber
from sua.perturb.constraints import Constraint
from sua.perturb.lm_paraphrase import GenerateFn, LMParaphrasePerturber
from sua.perturb.mixture import MixturePerturber
from sua.perturb.paraphrase import ParaphrasePerturber
from sua.perturb.protect import Protector
from sua.perturb.token import TokenPerturber


class LazyLMSampler:
    """``(prompt, n, seed) -> n sampled texts`` from a causal LM loaded on the first call.

    ``lm``: a built backend (anything with ``generate``, e.g. ``HFCausalLM`` or ``OpenAILM``), a
    hub name or folder, or ``None`` for the offline SmolLM2-135M-Instruct. Sampling defaults to
    temperature 0.9, at most 48 new tokens, one line.
    """

    def __init__(self, lm: Any = None, *, temperature: float = 0.9, top_p: float = 1.0,
                 max_new_tokens: int = 48, stop: Sequence[str] = ("\n",)) -> None:
        from sua.models.generation import SamplingConfig

        self.sampling = SamplingConfig(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                                       stop=tuple(stop))
        self.source = lm
        self._generate: GenerateFn | None = None

    def __repr__(self) -> str:
        source = self.source
        name = ("smollm2-135m-instruct" if source is None else os.fspath(source)
                if isinstance(source, (str, os.PathLike)) else repr(source))
        s = self.sampling
        return (f"LazyLMSampler({name}, temperature={s.temperature}, top_p={s.top_p}, "
                f"max_new_tokens={s.max_new_tokens}, stop={s.stop!r})")

    def __call__(self, prompt: Any, n: int, seed: int) -> Sequence[str]:
        if self._generate is None:
            from sua.models.generation import sampling_fn

            lm = self.source
            if lm is None or isinstance(lm, (str, os.PathLike)):
                from sua.models.hf_causal import HFCausalLM

                lm = HFCausalLM(lm)
            self._generate = sampling_fn(lm, self.sampling)
        return self._generate(prompt, n, seed)


def lm_paraphrase(generate: GenerateFn | None = None, *, lm: Any = None, template: Any = "paraphrase",
                  constraints: Sequence[Constraint] | None = None, protect: Protector | None = None,
                  candidates_per_draw: int = 2, **sampling: Any) -> LMParaphrasePerturber:
    """:class:`~sua.perturb.lm_paraphrase.LMParaphrasePerturber` sampling from ``generate``, by
    default the offline SmolLM2 loaded on first use (:class:`LazyLMSampler` with ``lm`` and the
    ``sampling`` options: temperature, top_p, max_new_tokens, stop)."""
    if generate is None:
        generate = LazyLMSampler(lm, **sampling)
    elif lm is not None or sampling:
        raise SUAInputError("lm_paraphrase: pass generate= or lm=/sampling options, not both")
    return LMParaphrasePerturber(generate, template=template, constraints=constraints, protect=protect,
                                 candidates_per_draw=candidates_per_draw)

#: Family name -> constructor taking the family's keyword options.
PERTURBERS: dict[str, Callable[..., Perturber]] = {
    "token": TokenPerturber,
    "paraphrase": ParaphrasePerturber,
    "adversarial": AdversarialPerturber,
    "mixture": MixturePerturber,
    "lm_paraphrase": lm_paraphrase,
}


#: What a family's constructor is given from where it runs, besides its own options: ``model``
#: (the classifier an adversarial search queries), ``to_model_input`` (``(input id, rewritten
#: text) -> model input``, e.g. the premise put back for NLI) and ``protect`` (spans kept).
#: A family absent here takes none of them.
CONTEXT: dict[str, tuple[str, ...]] = {
    "token": ("protect",),
    "paraphrase": ("protect",),
    "adversarial": ("model", "to_model_input", "protect"),
    "mixture": ("model", "to_model_input", "protect"),
    "lm_paraphrase": ("protect",),
}

#: Families that cannot be built without ``model``.
NEEDS_MODEL = ("adversarial",)


def build_perturber(family: str, *, model: Any = None,
                    to_model_input: Callable[[str, str], ModelInput] | None = None,
                    protect: Protector | None = None, **options: Any) -> Perturber:
    """The registered ``family`` built with ``options`` and, of ``model``, ``to_model_input`` and
    ``protect``, those given that the family takes (:data:`CONTEXT`); ``options`` win over them.
    The one way the CLI, :func:`~sua.perturb.files.perturb_file` and the trainer build a family.

    >>> build_perturber("token", model="unused: token edits query no model", kinds=("typo",))
    TokenPerturber(kinds=('typo',), weights=(1.0,), max_edits=1, protect=None)
    """
    if family not in PERTURBERS:
        raise SUAInputError(f"unknown perturbation family {family!r}; known: {sorted(PERTURBERS)}")
    if family in NEEDS_MODEL and model is None and "model" not in options:
        raise SUAInputError(f"the {family!r} family searches against a model: pass model= "
                            "(CLI: --model PATH)")
    given = {"model": model, "to_model_input": to_model_input, "protect": protect}
    context = {name: given[name] for name in CONTEXT.get(family, ()) if given[name] is not None}
    try:
        return PERTURBERS[family](**{**context, **options})
    except TypeError as err:
        raise SUAInputError(f"perturbation family {family!r} rejected the options {sorted(options)}: "
                            f"{err}") from err


def get_perturber(name: str, **kwargs: Any) -> Perturber:
    """Build the perturber registered as ``name`` with ``kwargs``.

    >>> get_perturber("token", kinds=("typo",), max_edits=2)
    TokenPerturber(kinds=('typo',), weights=(1.0,), max_edits=2, protect=None)
    """
    if name not in PERTURBERS:
        raise SUAInputError(f"unknown perturber {name!r}; known: {sorted(PERTURBERS)}")
    return PERTURBERS[name](**kwargs)
