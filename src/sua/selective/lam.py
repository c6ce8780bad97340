"""Choosing the alignment coefficient λ on validation records (Appendix B.3), from the cached
S and H alone: no model pass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from sua.errors import SUAInputError
from sua.measures import failure_auroc, sua_score
from sua.measures.metrics import check_level, coverage_count, selective_accuracy
from sua.records import Records, ScoreTable

#: The λ values tried by default (SPEC.md's default λ = 1 is among them).
DEFAULT_LAMBDA_GRID = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
#: Criteria: the failure AUROC of SUA_λ (higher is better) or the selective risk
#: ``1 − selective accuracy`` of SUA_λ at a coverage (lower is better).
CRITERIA = ("auroc", "selective_risk")


class LambdaSelection(NamedTuple):
    """The chosen λ and the whole sweep.

    ``table`` has one row per λ of the grid, in grid order, with ``lam``, ``auroc`` (failure
    AUROC of ``SUA_λ = S - λH``), ``selective_risk`` (``1 −`` :func:`selective_accuracy`
    of SUA_λ at ``coverage``: the error rate on the ``k`` = :func:`coverage_count` inputs with
    the lowest SUA_λ, the tables' definition) and ``coverage`` (``k / N``).
    """

    lam: float
    criterion: str
    coverage: float
    table: list[dict[str, float]]


def _check_grid(grid: Sequence[float]) -> np.ndarray:
    values = np.asarray(list(grid), dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise SUAInputError(f"the λ grid must be a non-empty list of finite numbers >= 0, "
                            f"got {list(grid)!r}")
    return values


def select_lambda(records: Records, grid: Sequence[float] = DEFAULT_LAMBDA_GRID,
                  criterion: str = "auroc", coverage: float = 0.8) -> LambdaSelection:
    """Pick λ from ``grid`` on labelled validation records.

    For each λ: ``SUA_λ(x) = S(x) - λ·H(x)`` from the records' ``sensitivity`` and
    ``entropy``; ``criterion="auroc"`` keeps the λ with the highest failure AUROC
    (``P(SUA_λ(wrong) > SUA_λ(right))``, ties ½), ``"selective_risk"`` the λ with the lowest
    selective risk at ``coverage``. Ties go to the earlier λ in ``grid``.

    >>> recs = [{"sensitivity": s, "entropy": h, "correct": c}
    ...         for s, h, c in [(0.2, 0.0, False), (0.3, 0.6, True)]]
    >>> select_lambda(recs, grid=[0.0, 1.0]).lam
    1.0
    """
    if criterion not in CRITERIA:
        raise SUAInputError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    lams = _check_grid(grid)
    coverage = check_level(coverage, "coverage")
    table = ScoreTable.of(records)
    s, h = table.column("sensitivity"), table.column("entropy")
    wrong = ~table.right("λ selection")
    if criterion == "auroc" and (wrong.all() or not wrong.any()):
        raise SUAInputError("λ selection by AUROC needs both right and wrong predictions in the "
                            f"records; all {wrong.size} are {'wrong' if wrong.all() else 'right'}")
    achieved = coverage_count(coverage, len(table)) / len(table)
    table = []
    for lam in lams:
        sua = np.asarray(sua_score(s, h, float(lam)))
        table.append({"lam": float(lam), "auroc": failure_auroc(sua, wrong),
                      "selective_risk": 1.0 - selective_accuracy(sua, ~wrong, coverage),
                      "coverage": achieved})
    values = np.array([row[criterion] for row in table])
    best = int(np.argmax(values) if criterion == "auroc" else np.argmin(values))
    return LambdaSelection(float(lams[best]), criterion, coverage, table)
