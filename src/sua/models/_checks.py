"""Checks every adapter shares: the inputs it receives, its labels and its outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.measures.validation import check_probabilities


def validate_inputs(inputs: Sequence[ModelInput]) -> tuple[list[ModelInput], bool]:
    """Return ``(inputs as a list, is_pair)`` or raise :class:`SUAInputError`.

    Every item must be a non-empty text, or every item a ``(first, second)`` pair of
    non-empty texts (a 2-element list is accepted as a pair); mixing the two is an error.
    An empty sequence is valid and reported as not paired.
    """
    if isinstance(inputs, (str, tuple)):
        raise SUAInputError(
            f"inputs must be a list of texts or of (first, second) pairs, got a single "
            f"{type(inputs).__name__} {inputs!r:.80}; wrap it in a list: [x]")
    items: list[ModelInput] = []
    kinds: set[bool] = set()
    for i, x in enumerate(inputs):
        if isinstance(x, str):
            if not x.strip():
                raise SUAInputError(f"input {i} is an empty text; every input needs some text")
            items.append(x)
            kinds.add(False)
        elif isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(s, str) for s in x):
            for part, s in zip(("first", "second"), x, strict=True):
                if not s.strip():
                    raise SUAInputError(f"input {i}: the {part} text of the pair is empty")
            items.append((x[0], x[1]))
            kinds.add(True)
        else:
            raise SUAInputError(
                f"input {i} is {x!r:.80} ({type(x).__name__}); expected a text or a "
                "(first, second) pair of texts")
        if len(kinds) > 1:
            raise SUAInputError(
                f"input {i} mixes single texts and text pairs in one call; pass either all "
                "texts or all (first, second) pairs")
    return items, kinds == {True}


def validate_labels(labels: Sequence[Any], expected: int | None = None) -> list[str]:
    """Return ``labels`` as a list of distinct strings (at least 2), or raise.

    When ``expected`` is given the list must have exactly that many entries (the number
    of output columns of the model).
    """
    if isinstance(labels, str):
        raise SUAInputError(f"labels must be a list of label names, got the string {labels!r}")
    out = [str(label) for label in labels]
    if expected is not None and len(out) != expected:
        raise SUAInputError(
            f"got {len(out)} labels {out} but the model has {expected} output classes; "
            f"pass exactly {expected} label names, in class-id order")
    if len(out) < 2:
        raise SUAInputError(f"a classifier needs at least 2 labels, got {out}")
    dupes = sorted({label for label in out if out.count(label) > 1})
    if dupes:
        raise SUAInputError(f"labels must be distinct; repeated: {dupes}")
    return out


def check_output(out: Any, n_inputs: int, labels: Sequence[str], source: str) -> np.ndarray:
    """Return ``out`` as a float64 (N, C) probability array, or raise naming ``source``.

    ``out`` must have one row per input and one column per label, and each row must be a
    distribution (checked by :func:`sua.measures.validation.check_probabilities`).
    """
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SUAInputError(f"{source} returned bad output: not a numeric array ({err})") from err
    expected = (n_inputs, len(labels))
    if arr.shape != expected:
        raise SUAInputError(
            f"{source} returned bad output: shape {arr.shape}, expected {expected} "
            f"(one row per input, one column per label {list(labels)})")
    if n_inputs:
        try:
            check_probabilities(arr, name="its output")
        except SUAInputError as err:
            raise SUAInputError(f"{source} returned bad output: {err}") from err
    return arr
