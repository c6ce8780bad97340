"""What makes the report readable at a glance: Δ against the paper, the claims table, sortable tables.

A measured cell *reproduces* the paper's number when ``|Δ| ≤ max(TOLERANCE, 2·std)`` with
``Δ = measured mean − paper`` and ``std`` the spread over the run's seeds (0 for one seed): two
standard deviations of seed noise, and never tighter than ``TOLERANCE`` (the paper prints three
decimals and its own runs vary). :func:`claims` lists every cell that has a paper number, with its
Δ and verdict; the report puts their count per table on top and the full list, sortable, folded
under it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sua.eval.report.schema import cell_mean, cell_std, is_finite_number

#: The smallest gap to the paper's number still counted as reproduced (absolute, metric units).
TOLERANCE = 0.02


@dataclass(frozen=True)
class Claim:
    """One measured number beside the paper's: where it is, both values, Δ and the verdict."""

    table: str
    row: str
    column: str
    measured: float
    std: float
    paper: float

    @property
    def delta(self) -> float:
        """Δ = measured − paper."""
        return self.measured - self.paper

    @property
    def within(self) -> bool:
        """|Δ| ≤ max(TOLERANCE, 2·std)."""
        return abs(self.delta) <= max(TOLERANCE, 2.0 * self.std)


def cell_claim(cell: Any, paper: Any, *, table: str = "", row: str = "", column: str = "") -> Claim | None:
    """The :class:`Claim` of one result cell (a number or ``{mean, std, n}``), or None when either
    side is missing."""
    mean = cell_mean(cell)
    if not (is_finite_number(mean) and is_finite_number(paper)):
        return None
    std = cell_std(cell)
    return Claim(table, row, column, float(mean), float(std) if is_finite_number(std) else 0.0, float(paper))


def claims(tables: Sequence[Mapping[str, Any]]) -> list[Claim]:
    """Every cell of ``tables`` (results.json's) that has a paper number, in table order."""
    out = []
    for table in tables:
        for r in table["rows"]:
            row = " · ".join(str(r["keys"].get(k)) for k in table["key_columns"])
            for column, paper in (r.get("paper") or {}).items():
                claim = cell_claim(r.get("cells", {}).get(column), paper,
                                   table=table.get("title") or table["id"], row=row, column=column)
                if claim is not None:
                    out.append(claim)
    return out


def _per_table(found: Sequence[Claim]) -> list[tuple[str, int, int]]:
    """(table, reproduced, compared) in table order."""
    names = list(dict.fromkeys(c.table for c in found))
    return [(t, sum(c.within for c in found if c.table == t), sum(c.table == t for c in found))
            for t in names]


def claims_md(found: Sequence[Claim]) -> list[str]:
    """The Markdown section: reproduced / compared per table, then every claim off the paper."""
    if not found:
        return []
    out = ["## Against the paper", "",
           f"A number reproduces the paper's when |Δ| ≤ max({TOLERANCE}, 2·std over seeds).", "",
           "| Table | reproduced | compared |", "|---|---:|---:|"]
    out += [f"| {t} | {w} | {n} |" for t, w, n in _per_table(found)]
    return out + [""]


def claims_html(found: Sequence[Claim]) -> str:
    """The HTML section: per-table counts, then the full sortable list (folded), largest |Δ| first."""
    if not found:
        return ""
    esc = html.escape
    counts = "".join(f"<tr><td>{esc(t)}</td><td class=\"num\">{w}</td><td class=\"num\">{n}</td></tr>"
                     for t, w, n in _per_table(found))
    rows = "".join(
        f'<tr class="{"within" if c.within else "off"}"><td>{esc(c.table)}</td><td>{esc(c.row)}</td>'
        f'<td>{esc(c.column)}</td><td class="num">{c.measured:.3f}</td><td class="num">{c.paper:.4g}</td>'
        f'<td class="num">{c.delta:+.3f}</td><td>{"yes" if c.within else "no"}</td></tr>'
        for c in sorted(found, key=lambda c: -abs(c.delta)))
    n_within = sum(c.within for c in found)
    return (f'<section id="claims"><h2>Against the paper</h2>'
            f'<p class="legend"><b>{n_within} of {len(found)}</b> numbers with a paper value reproduce it '
            f'(|Δ| ≤ max({TOLERANCE}, 2·std over seeds); green within, red not).</p>'
            f'<table class="sortable"><tr><th>Table</th><th>reproduced</th><th>compared</th></tr>'
            f'{counts}</table>'
            f'<details><summary>every compared number, largest |Δ| first</summary>'
            f'<table class="sortable claims"><tr><th>Table</th><th>Row</th><th>Column</th><th>measured</th>'
            f'<th>paper</th><th>Δ</th><th>reproduced</th></tr>{rows}</table></details></section>')


def delta_html(claim: Claim | None) -> tuple[str, str]:
    """(extra class, extra text) for a table cell: coloured and Δ-marked when it has a paper number."""
    if claim is None:
        return "", ""
    return (" within" if claim.within else " off"), f'<span class="delta">Δ {claim.delta:+.3f}</span>'


#: Colours for reproduced / not reproduced cells and the sorting header.
CSS = """
tr.within td,td.within{background:#e8f5e9}tr.off td,td.off{background:#fdecea}
.delta{display:block;font-size:.75rem;color:#444}
table.sortable th{cursor:pointer}table.sortable th:hover{background:#e6e6e6}
""".strip()

#: Click a header of a ``table.sortable`` to sort its rows by that column (numbers as numbers).
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(t => {
  const head = t.rows[0];
  [...head.cells].forEach((th, j) => th.addEventListener("click", () => {
    const desc = th.dataset.sort !== "desc";
    [...head.cells].forEach(c => delete c.dataset.sort);
    th.dataset.sort = desc ? "desc" : "asc";
    const value = tr => {
      const s = tr.cells[j].textContent.trim(), v = parseFloat(s);
      return isNaN(v) ? s : v;
    };
    const rows = [...t.rows].slice(1).sort((a, b) => {
      const x = value(a), y = value(b);
      return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
    });
    rows.forEach(r => r.parentNode.appendChild(r));
  }));
});
""".strip()
