"""Input checks shared by every measure: a clear error instead of a silent NaN."""

from __future__ import annotations

import numpy as np
import torch

from sua.errors import SUAInputError

#: Rows must sum to 1 within this tolerance (float32 softmax outputs stay well inside it).
SUM_ATOL = 1e-4
#: Entries this far below zero are rounding noise; anything lower is an error.
NEG_ATOL = 1e-7


def check_probabilities(p: np.ndarray | torch.Tensor, name: str = "p",
                        atol: float = SUM_ATOL) -> None:
    """Raise :class:`SUAInputError` unless ``p`` holds distributions along its last axis.

    Checks: at least one dimension, at least 2 classes, finite, non-negative (up to
    ``NEG_ATOL``) and each row summing to 1 within ``atol``. The message names the first
    offending row and its value so the user can find it. A low-precision tensor (bfloat16,
    float16) is checked in float64 with ``atol`` widened to its rounding, ``C * eps``.
    """
    if isinstance(p, torch.Tensor) and p.is_floating_point() and p.element_size() < 4:
        atol = max(atol, p.shape[-1] * torch.finfo(p.dtype).eps) if p.dim() else atol
        p = p.detach().double()
    arr = p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else np.asarray(p)
    if arr.ndim == 0:
        raise SUAInputError(f"{name} must have a class axis; got a scalar")
    if arr.shape[-1] < 2:
        raise SUAInputError(f"{name} needs at least 2 classes on its last axis; "
                            f"shape is {arr.shape}")
    if arr.size == 0:
        raise SUAInputError(f"{name} is empty (shape {arr.shape})")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), arr.shape)
        raise SUAInputError(f"{name} contains {arr[idx]} at index {tuple(int(i) for i in idx)}; "
                            "probabilities must be finite")
    neg = arr < -NEG_ATOL
    if neg.any():
        idx = np.unravel_index(int(np.argmax(neg)), arr.shape)
        raise SUAInputError(f"{name} has a negative probability {arr[idx]:.3g} at index "
                            f"{tuple(int(i) for i in idx)}")
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > atol
    if off.any():
        idx = np.unravel_index(int(np.argmax(off)), sums.shape)
        raise SUAInputError(f"{name} is not normalised: row {tuple(int(i) for i in idx)} sums to "
                            f"{sums[idx]:.6g}, not 1; pass probabilities (softmax of logits)")
