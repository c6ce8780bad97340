"""Sensitivity-Uncertainty Alignment (SUA).

For each input x the model's predictive distribution p(.|x) is compared with its
distributions on meaning-preserving rewrites x' ~ Q_x:

    S(x)   = E_{x'~Q_x} D(p(.|x) || p(.|x'))        (sensitivity, eq. 2)
    H(x)   = -sum_y p(y|x) log p(y|x)               (predictive entropy, eq. 5)
    SUA(x) = S(x) - lam * H(x)                      (eq. 8)
"""

from typing import Any

from sua.errors import SUAInputError

__version__ = "0.1.0"

#: The one-call API, imported on first use so that ``import sua`` stays light:
#: ``sua.score(model, inputs)``, ``sua.score_predictions(records, labels)``,
#: ``sua.records_frame(records)`` / ``sua.rewrites_frame(records)`` (pandas DataFrames), and the
#: settings they take, ``sua.Fields`` (the record fields read) and ``sua.ScoringConfig``.
_LAZY = {"score": "sua.scoring.front", "score_predictions": "sua.scoring.precomputed",
         "Fields": "sua.scoring.config", "ScoringConfig": "sua.scoring.config",
         "as_examples": "sua.tables", "records_frame": "sua.tables", "rewrites_frame": "sua.tables"}
__all__ = ["SUAInputError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sua' has no attribute {name!r}")
