"""Private helpers: every measure converts its inputs here, computes once in torch, converts back.

Same type in, same type out: numpy (or lists) in -> float64 numpy out; torch in -> torch out
with the input's dtype and device, still attached to its autograd graph.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sua.errors import SUAInputError
from sua.measures.validation import check_probabilities

#: What every measure accepts and returns: a numpy array or a torch tensor.
ArrayLike = np.ndarray | torch.Tensor


def _float64(x: Any) -> np.ndarray:
    """A float64 array torch can wrap: read-only views (``np.broadcast_to``) are copied."""
    arr = np.asarray(x, dtype=np.float64)
    return arr if arr.flags.writeable else arr.copy()


def as_tensors(*xs: Any) -> tuple[list[Any], bool]:
    """Convert ``xs`` to tensors of one floating dtype on one device; ``None`` stays ``None``.

    If any input is a tensor, floating tensors set the (promoted) dtype, the first tensor sets
    the device, and tensors keep their graph; otherwise everything becomes float64 on the CPU.
    The returned bool says whether the caller should hand back torch.
    """
    tensors = [x for x in xs if isinstance(x, torch.Tensor)]
    if not tensors:
        return [None if x is None else torch.as_tensor(_float64(x)) for x in xs], False
    floats = [t.dtype for t in tensors if t.is_floating_point()]
    dtype = functools.reduce(torch.promote_types, floats) if floats else torch.get_default_dtype()
    device = tensors[0].device
    out = [
        None if x is None
        else x.to(device=device, dtype=dtype) if isinstance(x, torch.Tensor)
        else torch.as_tensor(_float64(x), dtype=dtype, device=device)
        for x in xs
    ]
    return out, True


def restore(t: torch.Tensor, torch_out: bool) -> ArrayLike:
    """Hand ``t`` back in the caller's type: the tensor itself, or a numpy array."""
    return t if torch_out else t.detach().cpu().numpy()


def probabilities(named: Mapping[str, Any], *others: Any) -> tuple[list[Any], bool]:
    """Validate each named probability array, then convert them and ``others`` together.

    Validation is :func:`check_probabilities` with the given name in its messages; entries that
    are negative only by rounding noise (which it tolerates) are clipped to 0.
    """
    for name, p in named.items():
        check_probabilities(p, name)
    tensors, torch_out = as_tensors(*named.values(), *others)
    probs = [t.clamp_min(0) for t in tensors[: len(named)]]
    return probs + tensors[len(named):], torch_out


def reals(named: Mapping[str, Any]) -> tuple[list[torch.Tensor], bool]:
    """Convert per-input real-valued arrays (S, H, scores, ...) that must share one shape.

    NaN is an error naming the array; so is a shape mismatch (no silent broadcasting of a
    ``(N,)`` against an ``(N, 1)``). Infinities are allowed: KL can be ``+inf``.
    """
    tensors, torch_out = as_tensors(*named.values())
    shapes = {name: tuple(t.shape) for name, t in zip(named, tensors, strict=True)}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise SUAInputError(f"shapes must match (one value per input); got {listed}")
    for name, t in zip(named, tensors, strict=True):
        nan = torch.isnan(t)
        if nan.any():
            first = np.unravel_index(int(nan.reshape(-1).int().argmax()), tuple(t.shape))
            raise SUAInputError(f"{name} contains NaN at index {tuple(int(i) for i in first)}")
    return tensors, torch_out


def xlogy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x * log(y)`` with ``0 * log(anything) = 0`` exactly and a zero (not NaN) gradient there.

    Where ``x > 0`` and ``y = 0`` the value is ``-inf``, the true limit.
    """
    pos = x > 0
    return torch.where(pos, x * torch.log(torch.where(pos, y, 1.0)), 0.0)


def safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(x)`` for ``x >= 0`` with a zero (not infinite) gradient at 0."""
    pos = x > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, x, 1.0)), 0.0)
