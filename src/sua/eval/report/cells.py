"""The text of the report's cells and run facts, shared by the Markdown and the HTML page.

A measured cell reads ``mean ± std`` over the seeds (3 decimals; no ``± std`` for one seed;
``[n=…]`` when it pools another number of seeds than its table), the paper's number as the paper
prints it (at most 4 significant digits); a missing or undefined value reads :data:`DASH`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from sua.eval.report.schema import is_number

DASH = "—"

LEGEND = ("Cells: mean ± std over the seeds (3 decimals; no ± for a single seed; [n=…] when fewer "
          "seeds went into a cell than the table pools: the run's seeds unless its notes name "
          "others); the paper's reported number follows in parentheses where it gives one; — means "
          "not measured or not defined.")


def _f3(x: float) -> str:
    return "nan" if isinstance(x, float) and math.isnan(x) else f"{x:.3f}"


def _paper_num(x: float) -> str:
    """The paper's number as printed there (0.811, 0.81): at most 4 significant digits."""
    return f"{x:.4g}"


def _finite(x: Any) -> bool:
    return not (is_number(x) and not math.isfinite(x))


def measured(value: Any, n_seeds: int | None) -> str:
    """``mean ± std`` (3 decimals); no std for n = 1; ``[n=2]`` when n differs from ``n_seeds``."""
    if value is None:
        return DASH
    if is_number(value):
        return _f3(value)
    mean, std, n = value.get("mean"), value.get("std"), value.get("n")
    if mean is None or not _finite(mean):  # undefined (NaN) is no value
        return DASH
    text = _f3(mean)
    if std is not None and n != 1 and _finite(std):
        text += f" ± {_f3(std)}"
    if n is not None and n_seeds is not None and n != n_seeds:
        text += f" [n={n}]"
    return text


def table_columns(table: Mapping[str, Any]) -> list[str]:
    """Declared columns, then any column a row has that was not declared (first seen first)."""
    columns = list(table["columns"])
    for row in table["rows"]:
        for col in list(row.get("cells", {})) + list(row.get("paper") or {}):
            if col not in columns:
                columns.append(col)
    return columns


def cell_parts(row: Mapping[str, Any], col: str, n_seeds: int | None) -> tuple[str, str | None]:
    """(measured text, paper text or None) of one cell."""
    text = measured(row.get("cells", {}).get(col), n_seeds)
    paper = (row.get("paper") or {}).get(col)
    return text, (_paper_num(paper) if is_number(paper) else None)


def key_text(value: Any) -> str:
    """A key column's value as text: strings as they are, other values as JSON, null as :data:`DASH`."""
    if value is None:
        return DASH
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def n_seeds(meta: Mapping[str, Any]) -> int | None:
    """How many seeds the run has (``None`` when it does not say)."""
    seeds = meta.get("seeds")
    return len(seeds) if isinstance(seeds, list) and seeds else None


def meta_items(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's facts as (label, text): profile, seeds, command, start and finish."""
    seeds = meta.get("seeds")
    return [
        ("Profile", key_text(meta.get("profile"))),
        ("Seeds", ", ".join(str(s) for s in seeds) if isinstance(seeds, list) and seeds else DASH),
        ("Command", key_text(meta.get("command"))),
        ("Started", key_text(meta.get("started"))),
        ("Finished", key_text(meta.get("finished"))),
    ]


def title(meta: Mapping[str, Any]) -> str:
    """The report's title, naming the profile when the run has one."""
    profile = meta.get("profile")
    return "SUA experiment report" + (f" — profile {profile}" if profile else "")
