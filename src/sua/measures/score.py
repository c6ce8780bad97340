"""The SUA score (eq. 8), the SUA risk (eq. 9) and the miscalibration gap (eq. 7)."""

from __future__ import annotations

import math
import numbers

from sua import defaults
from sua.errors import SUAInputError
from sua.measures._tensor import ArrayLike, reals, restore


def sua_score(S: ArrayLike, H: ArrayLike, lam: float = defaults.LAM) -> ArrayLike:
    """SUA score (eq. 8): ``SUA(x) = S(x) - lam * H(x)``.

    ``S`` is the sensitivity and ``H`` the predictive entropy of each input (same shape);
    ``lam >= 0`` is the alignment coefficient. Positive scores mark inputs whose answers move
    more under rewrites than the model's stated uncertainty admits.

    >>> import numpy as np
    >>> sua_score(np.array([0.4, 0.1]), np.array([0.1, 0.6]), lam=1.0)
    array([ 0.3, -0.5])
    """
    if not isinstance(lam, numbers.Real) or not 0 <= lam < math.inf:
        raise SUAInputError(f"lam must be a finite number >= 0 (the alignment coefficient); "
                            f"got {lam!r}")
    (s, h), torch_out = reals({"S": S, "H": H})
    return restore(s - lam * h, torch_out)


def sua_risk(scores: ArrayLike) -> ArrayLike:
    """SUA risk (eq. 9): ``R_SUA = E_x[(SUA(x))_+]``, the mean of the positive parts.

    Returns a 0-d array (numpy in) or a 0-d tensor (torch in, differentiable).

    >>> import numpy as np
    >>> sua_risk(np.array([0.3, -0.5, 0.1]))
    array(0.13333333)
    """
    (s,), torch_out = reals({"scores": scores})
    if s.numel() == 0:
        raise SUAInputError("scores is empty; the SUA risk needs at least one input")
    return restore(s.clamp_min(0.0).mean(), torch_out)


def miscalibration_gap(h_true: ArrayLike, h_model: ArrayLike) -> ArrayLike:
    """Miscalibration gap (eq. 7): ``Delta(x) = H*(x) - H_theta(x)``.

    Positive where the model is more confident than the data warrants (``h_true`` from
    :func:`sua.measures.true_entropy`, ``h_model`` from :func:`sua.measures.entropy`).

    >>> import numpy as np
    >>> miscalibration_gap(np.array([0.7, 0.0]), np.array([0.2, 0.1]))
    array([ 0.5, -0.1])
    """
    (t, m), torch_out = reals({"h_true": h_true, "h_model": h_model})
    return restore(t - m, torch_out)
