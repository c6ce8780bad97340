"""The Q_x a model is scored under: one family or the mixture, model-free draws shared across models.

:func:`model_qx` builds, for one model, a :class:`~sua.perturb.mixture.MixturePerturber` over
the families a setting names (``mixture``: paraphrase 0.4, token 0.4, adversarial 0.2; a single
family: that family alone), so every setting gets the mixture's validity checks, its fallback and
its distinct draws. The model-free families (back-translation, token edits) are wrapped in a
:class:`~sua.perturb.cache.CachedPerturber`: their proposals for an input are drawn once and
shared by every model and seed that scores it. The adversarial family searches against this
model, so it is built per model and never cached across models; a model without class
probabilities (an extractive-QA span model) has no adversarial family, and the mixture says so in
its ``dropped``.

Draws are distinct *as the model sees them* (:func:`~sua.perturb.mixture.model_input_key`): two
rewrites that tokenize alike (a casing change under an uncased backbone) count once, and a
rewrite that tokenizes like the input is no rewrite.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.perturb.adversarial import AdversarialPerturber
from sua.perturb.cache import CachedPerturber, default_cache_dir
from sua.perturb.constraints import default_constraints, default_embedder
from sua.perturb.mixture import DEFAULT_TOKEN_KINDS, DEFAULT_WEIGHTS, MixturePerturber, model_input_key
from sua.perturb.paraphrase import ParaphrasePerturber
from sua.perturb.token import TokenPerturber
from sua.tasks import input_builder

#: The Q_x settings :func:`model_qx` builds.
SETTINGS = ("mixture", "token", "paraphrase", "adversarial")


def model_qx(setting: str, model: Any, *, cache_dir: str | os.PathLike[str] | None = None,
             to_model_input: Callable[[str, str], ModelInput] | None = None) -> MixturePerturber:
    """Q_x for ``model`` under ``setting`` (one of :data:`SETTINGS`; see the module doc).

    ``cache_dir``: where model-free proposals are stored (``None``: the default cache);
    ``to_model_input(input_id, text)``: the model input of a rewrite, for the adversarial search
    (e.g. the premise put back for NLI).
    """
    if setting not in SETTINGS:
        raise SUAInputError(f"unknown Q_x setting {setting!r}; known: {', '.join(SETTINGS)}")
    names = list(DEFAULT_WEIGHTS) if setting == "mixture" else [setting]
    families: dict[str, Any] = {}
    if "paraphrase" in names:
        families["paraphrase"] = CachedPerturber(ParaphrasePerturber(), cache_dir)
    if "token" in names:
        families["token"] = CachedPerturber(
            TokenPerturber(tuple(DEFAULT_TOKEN_KINDS), tuple(DEFAULT_TOKEN_KINDS.values())), cache_dir)
    # the rewrites' sentence embeddings are stored beside them: a model-free rewrite is
    # validated alike for every model, and a search's candidates largely recur across models
    constraints = default_constraints(embedder=default_embedder(
        Path(cache_dir) if cache_dir is not None else default_cache_dir()))
    if "adversarial" in names and callable(getattr(model, "predict_proba", None)):
        families["adversarial"] = AdversarialPerturber(model, to_model_input=to_model_input,
                                                       constraints=constraints)
    weights = {name: DEFAULT_WEIGHTS[name] for name in names}
    return MixturePerturber(families, weights, constraints=constraints, distinct_key=model_input_key(model))


def qx_for_file(family: str, model: Any, data: str | os.PathLike[str], *, text_field: str,
                pair_field: str | None, rewrite: str = "auto", id_field: str = "id",
                limit: int | None = None) -> Any:
    """The Q_x ``sua score --perturber FAMILY`` scores a data file under: a setting of
    :data:`SETTINGS` through :func:`model_qx` (for pairs, the adversarial search gets each
    rewrite put back into its input as the model sees it, the ``rewrite`` side replaced:
    :func:`sua.tasks.input_builder` over ``data``), any other registered family as it is."""
    from sua.io import iter_examples
    from sua.perturb.registry import get_perturber

    if family not in SETTINGS:
        return get_perturber(family)
    to_model_input = None
    if pair_field and family in ("mixture", "adversarial"):
        to_model_input = input_builder(list(iter_examples(
            data, text_field=text_field, pair_field=pair_field, label_field=None, id_field=id_field,
            limit=limit)), rewrite)
    return model_qx(family, model, to_model_input=to_model_input)
