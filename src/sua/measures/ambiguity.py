"""Latent ambiguity: the operational proxy for A(x) (Section 5.5) and ambiguity collapse (eq. 4)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch

from sua.errors import SUAInputError
from sua.measures._tensor import ArrayLike, reals, restore
from sua.measures.entropy import entropy_t


def _check_ids(ids: np.ndarray, num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1:
        raise SUAInputError(f"num_classes must be a positive integer, got {num_classes!r}")
    if ids.dtype.kind not in "iub":
        raise SUAInputError(f"with num_classes, outputs must be integer ids; got dtype {ids.dtype}")
    bad = (ids < 0) | (ids >= num_classes)
    if bad.any():
        raise SUAInputError(f"output id {ids[bad][0]} is outside [0, {num_classes}) "
                            f"(num_classes={num_classes})")


def _array_counts(outputs: np.ndarray, num_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Codes (N, M) in [0, n_codes) -> counts (N, n_codes) and row lengths (N,)."""
    if outputs.ndim != 2 or 0 in outputs.shape:
        raise SUAInputError(f"outputs must have shape (N, M), M output ids per input, with "
                            f"N, M >= 1; got {outputs.shape}")
    if outputs.dtype.kind in "fc":
        raise SUAInputError(f"outputs must hold output ids (integers or labels), got dtype "
                            f"{outputs.dtype}; pass argmax ids, not probabilities")
    if num_classes is None:
        uniq, codes = np.unique(outputs, return_inverse=True)
        n_codes, codes = len(uniq), codes.reshape(outputs.shape)
    else:
        _check_ids(outputs, num_classes)
        n_codes, codes = int(num_classes), outputs.astype(np.int64)
    n, m = codes.shape
    offsets = np.arange(n)[:, None] * n_codes
    counts = np.bincount((offsets + codes).ravel(), minlength=n * n_codes)
    return counts.reshape(n, n_codes), np.full(n, m)


def _list_counts(outputs: Sequence[Sequence[Hashable]],
                 num_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of hashables (lengths may differ) -> counts (N, n_codes) and row lengths (N,)."""
    lengths = np.array([len(row) for row in outputs], dtype=np.int64)
    if lengths.size == 0:
        raise SUAInputError("outputs is empty; pass one row of outputs per input")
    if (lengths == 0).any():
        raise SUAInputError(f"outputs row {int(np.argmin(lengths))} is empty; every input "
                            "needs at least one output")
    index: dict[Hashable, int] = {}
    try:
        codes = np.array([index.setdefault(v, len(index)) for row in outputs for v in row])
    except TypeError as err:
        raise SUAInputError(f"outputs must hold hashable output ids ({err})") from None
    if num_classes is not None:
        _check_ids(np.array(list(index)), num_classes)
    rows = np.repeat(np.arange(lengths.size), lengths)
    counts = np.bincount(rows * len(index) + codes, minlength=lengths.size * len(index))
    return counts.reshape(lengths.size, len(index)), lengths


def ambiguity_proxy(outputs: ArrayLike | Sequence[Sequence[Hashable]],
                    num_classes: int | None = None) -> ArrayLike:
    """Operational ambiguity proxy for ``A(x) = H(Z | X=x)`` (eq. 3, Section 5.5).

    ``A_hat(x) = -sum_y f_y log f_y`` with ``f_y`` the fraction of the M outputs for ``x``
    equal to ``y``: the entropy, in nats (at most ``log M``), of the empirical distribution of
    M sampled outputs, or, for a (near) deterministic model, of the argmax outputs over M
    paraphrases of ``x``. ``outputs`` is an array (N, M) of output ids (integers or string
    labels), or a list of N lists of hashables (rows may differ in length). ``num_classes``
    only checks that integer ids lie in ``[0, num_classes)``. Numpy or lists in, float64 numpy
    out; torch in, torch out (default float dtype, the input's device).

    >>> import numpy as np
    >>> ambiguity_proxy(np.array([[0, 0, 0, 0], [0, 1, 0, 1]]))
    array([0.        , 0.69314718])
    >>> ambiguity_proxy([["Paris", "Paris"], ["1912", "1913", "1912", "1912"]]).round(4)
    array([0.    , 0.5623])
    """
    if isinstance(outputs, torch.Tensor):
        counts, lengths = _array_counts(outputs.detach().cpu().numpy(), num_classes)
        dist = torch.as_tensor(counts / lengths[:, None], dtype=torch.get_default_dtype(),
                               device=outputs.device)
        return entropy_t(dist)
    if isinstance(outputs, np.ndarray) and outputs.dtype != object:
        counts, lengths = _array_counts(outputs, num_classes)
    else:
        counts, lengths = _list_counts(outputs, num_classes)
    return restore(entropy_t(torch.as_tensor(counts / lengths[:, None])), False)


def ambiguity_collapse(A: ArrayLike, H: ArrayLike, a: float = math.log(2),
                       h: float = 0.5) -> ArrayLike:
    """Ambiguity collapse (eq. 4): ``A(x) >= a`` and ``H(x) <= h``, with ``a > h``.

    The input is ambiguous (several valid readings, ``A`` the ambiguity or its proxy, in nats)
    yet the model answers confidently (low predictive entropy ``H``). Returns a boolean array
    of the inputs' type.

    >>> import numpy as np
    >>> ambiguity_collapse(np.array([1.0, 1.0, 0.1]), np.array([0.1, 0.9, 0.1]))
    array([ True, False, False])
    """
    if not a > h:
        raise SUAInputError(f"ambiguity collapse needs thresholds a > h (eq. 4); got a={a}, h={h}")
    (ta, th), torch_out = reals({"A": A, "H": H})
    return restore((ta >= a) & (th <= h), torch_out)
