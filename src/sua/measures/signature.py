"""Failure signatures: the Appendix C taxonomy read off S, H and the ambiguity proxy."""

from __future__ import annotations

import math

import numpy as np

from sua.measures._tensor import ArrayLike, reals
from sua.measures.ambiguity import ambiguity_collapse

#: The labels :func:`signature` returns, in order of precedence.
SIGNATURES = ("sensitivity_failure", "epistemic", "ambiguity_collapse", "aligned")


def signature(S: ArrayLike, H: ArrayLike, ambiguity: ArrayLike | None = None, *,
              s_threshold: float = 0.05, h_threshold: float = 0.5,
              a_threshold: float = math.log(2)) -> np.ndarray:
    """Label each input with its failure signature (Appendix C, Table C.1), thresholds in nats.

    With ``high_S = S > s_threshold`` and ``high_H = H > h_threshold``:

    - ``sensitivity_failure``: high S, low H. A small meaning-preserving rewrite moves the
      answer while the model claims to be sure; SUA flags it (abstain or raise uncertainty).
    - ``epistemic``: low S, high H. The model does not know and says so; entropy-based
      abstention handles it.
    - ``ambiguity_collapse``: low S, low H and ambiguity collapse (eq. 4:
      ``ambiguity >= a_threshold`` and ``H <= h_threshold``, needs ``a_threshold >
      h_threshold``): several valid answers, one confident output. Only when ``ambiguity``
      (e.g. :func:`sua.measures.ambiguity_proxy`) is given.
    - ``aligned``: everything else: stable and confident (which also hides Appendix C's
      *invariance failure*, for which SUA has no signal), or unstable and uncertain (the
      uncertainty already covers the instability).

    Returns a numpy array of ``str`` with the shape of ``S``.

    >>> import numpy as np
    >>> signature(np.array([0.3, 0.0, 0.0, 0.0]), np.array([0.1, 0.9, 0.1, 0.1]),
    ...           ambiguity=np.array([0.0, 0.0, 1.0, 0.0])).tolist()
    ['sensitivity_failure', 'epistemic', 'ambiguity_collapse', 'aligned']
    """
    (s, h), _ = reals({"S": S, "H": H})
    high_s, high_h = s > s_threshold, h > h_threshold
    conditions = [high_s & ~high_h, ~high_s & high_h]
    if ambiguity is not None:
        collapse = ambiguity_collapse(ambiguity, h, a_threshold, h_threshold)
        conditions.append(~high_s & ~high_h & collapse)
    codes = np.select([c.numpy(force=True) for c in conditions], list(range(len(conditions))),
                      default=len(SIGNATURES) - 1)
    return np.asarray(SIGNATURES)[codes]
