"""The layout of ``RUN_DIR/results.json``, stated once for the table builder and the report.

:mod:`sua.eval.reproduce` writes it through :func:`new_results`, :func:`table`, :func:`row` and
:func:`cell`; the report reads it back through :func:`load_results`, which checks every field
below and names the first one that does not follow it::

    {"meta":    {"profile", "seeds": [...], "command", "versions": {...}, "config", "started",
                 "finished", "notes": [str]},
     "tables":  [{"id": str, "title": str, "key_columns": [str], "columns": [str],
                  "rows": [{"keys": {...}, "cells": {col: {"mean", "std", "n"} | number | null},
                            "paper": {col: number | null} | null}],
                  "notes": [str], "seeds": int (optional: the seeds a cell pools, when not the run's)}],
     "figures": {kind: [entry]} with the kinds and entry fields of FIGURE_FIELDS}

``meta`` and ``tables`` are required; ``figures`` and every figure kind may be missing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError

RESULTS_FILE = "results.json"

#: Figure kind -> the fields each of its entries must have and their types (entries may hold more:
#: ``seed``, ``correct``, ``thresholds``, ``score``, ``spearman_std``, ``paper``).
FIGURE_FIELDS: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "reliability": (("task", str), ("method", str), ("bins", list)),
    "risk_coverage": (("task", str), ("method", str), ("curves", dict)),
    "sh_scatter": (("task", str), ("method", str), ("S", list), ("H", list)),
    "k_sweep": (("task", str), ("K", list), ("spearman_mean", list)),
}
FIGURE_KINDS = tuple(FIGURE_FIELDS)


# -- writing ----------------------------------------------------------------------------------

def new_results() -> dict[str, Any]:
    """An empty results object: no meta yet, no tables, an empty list per figure kind."""
    return {"meta": {}, "tables": [], "figures": {kind: [] for kind in FIGURE_KINDS}}


def cell(mean: float, std: float, n: int) -> dict[str, Any]:
    """One measured cell: the mean and standard deviation of ``n`` values (one per seed)."""
    return {"mean": mean, "std": std, "n": n}


def row(keys: Mapping[str, Any], cells: Mapping[str, Any],
        paper: Mapping[str, float | None] | None) -> dict[str, Any]:
    """One table row: its key columns' values, its cells, and the paper's numbers or ``None``."""
    return {"keys": dict(keys), "cells": dict(cells), "paper": None if paper is None else dict(paper)}


def table(table_id: str, title: str, key_columns: Sequence[str], columns: Sequence[str],
          rows: Sequence[Mapping[str, Any]], notes: Sequence[str],
          seeds: int | None = None) -> dict[str, Any]:
    """One table; ``seeds`` (how many seeds a cell pools) only when it is not the run's count."""
    out = {"id": table_id, "title": title, "key_columns": list(key_columns), "columns": list(columns),
           "rows": list(rows), "notes": list(notes)}
    return out if seeds is None else {**out, "seeds": seeds}


# -- reading ----------------------------------------------------------------------------------

def is_number(x: Any) -> bool:
    """An int or float (NaN and infinities included), not a bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_finite_number(x: Any) -> bool:
    """An int or float that is finite, not a bool."""
    return is_number(x) and math.isfinite(x)


def cell_mean(value: Any) -> Any:
    """A cell's mean: the cell itself when it is a bare number, else its ``mean`` (``None`` if absent)."""
    if is_number(value):
        return value
    return value.get("mean") if isinstance(value, Mapping) else None


def cell_std(value: Any) -> Any:
    """A cell's spread over seeds: its ``std``, or ``None`` for a bare number or a single seed (n = 1)."""
    return value.get("std") if isinstance(value, Mapping) and value.get("n") != 1 else None


def _fail(where: str, what: str) -> SUAInputError:
    return SUAInputError(f"{where}: {what}; results.json is written by `sua reproduce` "
                         "(see the schema in sua.eval.report)")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_str_list(value: Any, where: str, *, allow_missing: bool = True) -> None:
    if value is None and allow_missing:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"expected a list of strings, got {_short(value)}")


def _check_type(value: Any, kind: type, where: str, expected: str) -> None:
    if not isinstance(value, kind):
        raise _fail(where, f"expected {expected}, got {_short(value)}")


def _check_cell(value: Any, where: str) -> None:
    if value is None or is_number(value):
        return
    if not isinstance(value, dict):
        raise _fail(where, f"a cell must be null, a number or {{'mean', 'std', 'n'}}, got {_short(value)}")
    for field in ("mean", "std", "n"):
        number = value.get(field)
        if number is not None and not is_number(number):
            raise _fail(f"{where}.{field}", f"expected a number or null, got {_short(number)}")


def _check_paper(paper: Any, where: str) -> None:
    if paper is None:
        return
    _check_type(paper, dict, where, "an object or null")
    for col, value in paper.items():
        if value is not None and not is_number(value):
            raise _fail(f"{where}[{col!r}]", f"expected a number or null, got {_short(value)}")


def _check_row(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _fail(where, f"a row must be an object, got {_short(value)}")
    _check_type(value.get("keys"), dict, f"{where}.keys", "an object")
    cells = value.get("cells", {})
    _check_type(cells, dict, f"{where}.cells", "an object")
    for col, item in cells.items():
        _check_cell(item, f"{where}.cells[{col!r}]")
    _check_paper(value.get("paper"), f"{where}.paper")


def _check_table(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _fail(where, f"a table must be an object, got {_short(value)}")
    _check_type(value.get("id"), str, f"{where}.id", "a string")
    for field in ("key_columns", "columns"):
        _check_str_list(value.get(field), f"{where}.{field}", allow_missing=False)
    _check_str_list(value.get("notes"), f"{where}.notes")
    if value.get("title") is not None:
        _check_type(value["title"], str, f"{where}.title", "a string")
    _check_type(value.get("rows"), list, f"{where}.rows", "a list")
    for i, item in enumerate(value["rows"]):
        _check_row(item, f"{where}.rows[{i}]")


def _check_figure_entries(kind: str, entries: Any) -> None:
    _check_type(entries, list, f"figures.{kind}", "a list")
    for i, entry in enumerate(entries):
        where = f"figures.{kind}[{i}]"
        _check_type(entry, dict, where, "an object")
        for name, field_type in FIGURE_FIELDS[kind]:
            if not isinstance(entry.get(name), field_type):
                raise _fail(f"{where}.{name}", f"missing or of the wrong type: {_short(entry.get(name))}")
    if kind == "sh_scatter":
        for i, entry in enumerate(entries):
            if len(entry["S"]) != len(entry["H"]):
                raise _fail(f"figures.sh_scatter[{i}]",
                            f"S and H differ in length ({len(entry['S'])} vs {len(entry['H'])})")


def _check_figures(figures: Any) -> None:
    if figures is None:
        return
    _check_type(figures, dict, "figures", "an object")
    for kind in FIGURE_KINDS:
        if figures.get(kind) is not None:
            _check_figure_entries(kind, figures[kind])


def _check_meta(meta: Any, where: str) -> None:
    _check_type(meta, dict, f"{where}: meta", "an object")
    if meta.get("seeds") is not None:
        _check_type(meta["seeds"], list, f"{where}: meta.seeds", "a list")
    if meta.get("versions") is not None:
        _check_type(meta["versions"], dict, f"{where}: meta.versions", "an object")
    _check_str_list(meta.get("notes"), f"{where}: meta.notes")


def check_results(data: Any, where: str) -> None:
    """Raise :class:`SUAInputError` at the first field of ``data`` that does not follow the layout
    (module doc); ``where`` (the file) starts the message."""
    if not isinstance(data, dict):
        raise _fail(where, f"expected a JSON object, got {type(data).__name__}")
    _check_meta(data.get("meta"), where)
    _check_type(data.get("tables"), list, f"{where}: tables", "a list")
    for i, item in enumerate(data["tables"]):
        _check_table(item, f"{where}: tables[{i}]")
    try:
        _check_figures(data.get("figures"))
    except SUAInputError as exc:
        raise SUAInputError(f"{where}: {exc}") from None


def _results_file(run_dir: str | os.PathLike[str]) -> Path:
    """``RUN_DIR/results.json`` (``run_dir`` may be the file itself), or an error saying why not."""
    path = Path(run_dir)
    if path.is_file() and path.name == RESULTS_FILE:
        path = path.parent
    if not path.exists():
        raise SUAInputError(f"run folder not found: {path}; pass the folder an experiment run wrote "
                            f"(it holds {RESULTS_FILE})")
    if not path.is_dir():
        raise SUAInputError(f"{path} is not a run folder; pass the folder that holds {RESULTS_FILE}")
    file = path / RESULTS_FILE
    if not file.is_file():
        raise SUAInputError(f"{path} has no {RESULTS_FILE}: the run has not finished or this is not a "
                            "run folder (run `sua reproduce` first)")
    return file


def load_results(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``RUN_DIR/results.json`` (``run_dir`` may also be the file itself).

    Raises :class:`SUAInputError` naming the problem (missing folder or file, invalid JSON with
    its line and column, or the first field that does not follow the layout of the module doc).
    """
    file = _results_file(run_dir)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SUAInputError(f"{file}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise SUAInputError(f"{file}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); "
                            "the run may have been interrupted while writing it: rerun it") from None
    check_results(data, str(file))
    return data
