"""The report as Markdown: ``RUN_DIR/report/report.md``, its figures linked from ``figures/``.

Sections in order: Against the paper (:mod:`sua.eval.report.glance`), Run (facts, versions,
notes), Tables (one per results table, cells as :mod:`sua.eval.report.cells` writes them, the
paper's number in parentheses), Figures, Exact config (fenced JSON). Every piece of text from
``results.json`` is escaped and kept on one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sua.eval.report import glance
from sua.eval.report.cells import (
    DASH,
    LEGEND,
    cell_parts,
    key_text,
    meta_items,
    n_seeds,
    table_columns,
    title,
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(text: Any) -> str:
    """Plain text safe inside Markdown (and its tables): specials backslash-escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _notes(notes: Sequence[str]) -> list[str]:
    return [f"- {_md(n)}" for n in notes]


def _run(meta: Mapping[str, Any]) -> list[str]:
    out = ["## Run", ""]
    out += [f"- **{k}:** " + (f"`{v}`" if k == "Command" and v != DASH and "`" not in v else _md(v))
            for k, v in meta_items(meta)]
    versions = meta.get("versions") or {}
    if versions:
        out += ["", "### Versions", ""]
        out += _md_table(["Package", "Version"], [[_md(k), _md(key_text(v))] for k, v in versions.items()])
    notes = meta.get("notes") or []
    if notes:
        out += ["", "### Notes", "", *_notes(notes)]
    return out


def _table(table: Mapping[str, Any], run_seeds: int | None) -> list[str]:
    out = ["", f"### {_md(table.get('title') or table['id'])}", ""]
    columns = table_columns(table)
    rows = []
    for row in table["rows"]:
        cells = [_md(key_text(row["keys"].get(k))) for k in table["key_columns"]]
        for col in columns:
            measured, paper = cell_parts(row, col, table.get("seeds", run_seeds))
            cells.append(measured + (f" (paper {paper})" if paper else ""))
        rows.append(cells)
    if rows:
        out += _md_table([_md(c) for c in [*table["key_columns"], *columns]], rows)
    else:
        out.append("No rows.")
    table_notes = table.get("notes") or []
    if table_notes:
        out += ["", *_notes(table_notes)]
    return out


def _figures(figures: Sequence[tuple[str, str, str]]) -> list[str]:
    if not figures:
        return []
    out = ["", "## Figures"]
    for name, fig_title, caption in figures:
        out += ["", f"### {_md(fig_title)}", "", f"![{_md(fig_title)}](figures/{name})", "", _md(caption)]
    return out


def render_markdown(data: Mapping[str, Any], figures: Sequence[tuple[str, str, str]]) -> str:
    """The Markdown page of checked results ``data``; ``figures``: (file, title, caption) in order."""
    meta = data["meta"]
    out = [f"# {_md(title(meta))}", "", *glance.claims_md(glance.claims(data["tables"])), *_run(meta)]
    out += ["", "## Tables", "", f"*{_md(LEGEND)}*"]
    if not data["tables"]:
        out += ["", "No tables in this run."]
    for table in data["tables"]:
        out += _table(table, n_seeds(meta))
    out += _figures(figures)
    config = json.dumps(meta.get("config"), indent=2, sort_keys=False, ensure_ascii=False)
    fence = _fence(config)
    out += ["", "## Exact config", "", f"{fence}json", config, fence, ""]
    return "\n".join(out)
