"""Sensitivity-Uncertainty Alignment (SUA).

For each input x the model's predictive distribution p(.|x) is compared with its
distributions on meaning-preserving rewrites x' ~ Q_x:

    S(x)   = E_{x'~Q_x} D(p(.|x) || p(.|x'))        (sensitivity, eq. 2)
    H(x)   = -sum_y p(y|x) log p(y|x)               (predictive entropy, eq. 5)
    SUA(x) = S(x) - lam * H(x)                      (eq. 8)
"""

from sua.errors import SUAInputError

__version__ = "0.1.0"
__all__ = ["SUAInputError", "__version__"]
