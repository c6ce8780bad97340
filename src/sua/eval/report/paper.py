"""The paper's reported numbers, shipped with the package as ``sua/eval/paper_numbers.json``.

:func:`paper_numbers` loads them; :func:`paper_values` looks up the numbers of one results row, so
the table builder (:mod:`sua.eval.reproduce`) can fill each row's ``paper``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any


@functools.lru_cache(maxsize=1)
def _paper_numbers_cached() -> dict[str, Any]:
    text = resources.files("sua.eval").joinpath("paper_numbers.json").read_text(encoding="utf-8")
    return json.loads(text)


def paper_numbers() -> dict[str, Any]:
    """The paper's reported numbers, transcribed from ``paper.txt`` (a fresh copy each call).

    ``{"source", "notes", "tables": {id: {"title", "key_columns", "columns", "rows": [{"keys",
    "values"}], "aliases", "notes", ...}}}`` with ids ``table2`` (all 15 rows), ``table3`` (the QA
    ablations), ``figure2`` (the AUROC pairs quoted in §6.6), ``b1`` (K sweep, also as ``K`` /
    ``spearman`` lists), ``b2`` and ``b3`` (claims only: their numbers were lost) and ``b4``
    (selective accuracy, also as ``coverage`` / ``sua`` / ``entropy`` lists).

    >>> paper_numbers()["tables"]["b1"]["spearman"]
    [0.71, 0.84, 0.93, 0.95]
    """
    return copy.deepcopy(_paper_numbers_cached())


def _norm(value: Any) -> str:
    """Case- and punctuation-blind form of a key value: ``'Temp. Scale'`` -> ``'tempscale'``."""
    return re.sub(r"[^a-z0-9]", "", str(value).lower())


def paper_values(table_id: str, keys: Mapping[str, Any]) -> dict[str, float | None] | None:
    """The paper's numbers for one row of a results table, or ``None`` when the paper has none.

    ``keys`` are the row's key columns (``{"Task": "nli", "Method": "sua-tr"}``); names match
    case- and punctuation-blind and through the table's aliases (``nli`` -> ``NLI``, ``topic`` ->
    ``Class.``, ``sua-tr-no-align`` -> ``w/o L_align (β=0)``). A paper row matches when every key
    it has matches (extra keys in ``keys`` are ignored); the most specific match wins.

    >>> paper_values("table2", {"Task": "nli", "Method": "sua-tr"})["AUROC"]
    0.762
    >>> paper_values("table3", {"Method": "sua-tr-no-cons"})["Rob. Acc"]
    0.681
    >>> paper_values("table2", {"Task": "nli", "Method": "mc-dropout"}) is None
    True
    """
    table = _paper_numbers_cached()["tables"].get(table_id)
    if table is None:
        return None
    aliases = {_norm(col): {_norm(a): _norm(c) for a, c in names.items()}
               for col, names in table.get("aliases", {}).items()}
    given = {}
    for col, value in keys.items():
        v = _norm(value)
        given[_norm(col)] = aliases.get(_norm(col), {}).get(v, v)
    best, best_size = None, -1
    for row in table["rows"]:
        want = {_norm(c): _norm(v) for c, v in row["keys"].items()}
        if all(given.get(c) == v for c, v in want.items()) and len(want) > best_size:
            best, best_size = row, len(want)
    return dict(best["values"]) if best is not None else None
