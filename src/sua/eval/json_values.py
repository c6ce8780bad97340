"""Values made ready for strict JSON."""

from __future__ import annotations

import math
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float, at any depth of dicts and lists, replaced by
    ``None``: JSON has no NaN, and a metric can be undefined (an AUROC over one class only).

    >>> finite_or_none({"auroc": float("nan"), "n": [1.0, float("inf")]})
    {'auroc': None, 'n': [1.0, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value
