"""`sua report RUN_DIR`: a Markdown page and a self-contained HTML page from a run's ``results.json``.

The experiment runner writes ``RUN_DIR/results.json``::

    {"meta":    {"profile", "seeds", "command", "versions", "config", "started", "finished", "notes"},
     "tables":  [{"id", "title", "key_columns", "columns",
                  "rows": [{"keys": {...}, "cells": {col: {"mean", "std", "n"} | null},
                            "paper": {col: number | null} | null}],
                  "notes": [...]}],
     "figures": {"reliability": [...], "risk_coverage": [...], "sh_scatter": [...], "k_sweep": [...]}}

:func:`write_report` turns it into ``RUN_DIR/report/report.md`` (figures as PNG files in
``RUN_DIR/report/figures/``) and ``RUN_DIR/report/report.html`` (the same PNGs inlined as
``data:`` URIs, inline CSS, no script: one file to mail or archive). Every measured cell reads
``mean ± std`` over the seeds (3 decimals; no ``± std`` for one seed) with the paper's number
beside it where the run gives one; a missing value reads ``—``. The output is a pure function of
``results.json``: the same input gives byte-identical files.

:func:`paper_numbers` loads the paper's reported numbers (``paper_numbers.json``, shipped with
the package) and :func:`paper_values` looks up one row of them, so the runner can fill ``paper``.
"""

from __future__ import annotations

import base64
import copy
import functools
import html
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.eval import report_glance as glance

#: Names of the figure PNGs, in the order they appear in the report.
FIGURE_FILES = ("figure2_auroc.png", "reliability.png", "risk_coverage.png", "sh_scatter.png", "k_sweep.png")
RESULTS_FILE = "results.json"
#: The S axis of the S–H scatter is linear below this and logarithmic above (S piles up near 0).
SYMLOG_LINTHRESH = 1e-5
#: Widest figure, in inches at the PNGs' 100 dpi: the page's 1150 px, so figures show at 100 %.
PAGE_WIDTH_IN = 11.5
DASH = "—"


# ---------------------------------------------------------------------------------------------
# The paper's numbers
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Reading and checking results.json
# ---------------------------------------------------------------------------------------------

def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _fail(where: str, what: str) -> SUAInputError:
    return SUAInputError(f"{where}: {what}; results.json is written by `sua reproduce` "
                         "(see the schema in sua.eval.report)")


def _check_str_list(value: Any, where: str, *, allow_missing: bool = True) -> None:
    if value is None and allow_missing:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"expected a list of strings, got {_short(value)}")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_cell(cell: Any, where: str) -> None:
    if cell is None or _is_num(cell):
        return
    if not isinstance(cell, dict):
        raise _fail(where, f"a cell must be null, a number or {{'mean', 'std', 'n'}}, got {_short(cell)}")
    for field in ("mean", "std", "n"):
        value = cell.get(field)
        if value is not None and not _is_num(value):
            raise _fail(f"{where}.{field}", f"expected a number or null, got {_short(value)}")


def _check_table(table: Any, where: str) -> None:
    if not isinstance(table, dict):
        raise _fail(where, f"a table must be an object, got {_short(table)}")
    if not isinstance(table.get("id"), str):
        raise _fail(f"{where}.id", f"expected a string, got {_short(table.get('id'))}")
    for field in ("key_columns", "columns"):
        _check_str_list(table.get(field), f"{where}.{field}", allow_missing=False)
    _check_str_list(table.get("notes"), f"{where}.notes")
    if table.get("title") is not None and not isinstance(table["title"], str):
        raise _fail(f"{where}.title", f"expected a string, got {_short(table['title'])}")
    rows = table.get("rows")
    if not isinstance(rows, list):
        raise _fail(f"{where}.rows", f"expected a list, got {_short(rows)}")
    for i, row in enumerate(rows):
        rw = f"{where}.rows[{i}]"
        if not isinstance(row, dict):
            raise _fail(rw, f"a row must be an object, got {_short(row)}")
        if not isinstance(row.get("keys"), dict):
            raise _fail(f"{rw}.keys", f"expected an object, got {_short(row.get('keys'))}")
        cells = row.get("cells", {})
        if not isinstance(cells, dict):
            raise _fail(f"{rw}.cells", f"expected an object, got {_short(cells)}")
        for col, cell in cells.items():
            _check_cell(cell, f"{rw}.cells[{col!r}]")
        paper = row.get("paper")
        if paper is not None:
            if not isinstance(paper, dict):
                raise _fail(f"{rw}.paper", f"expected an object or null, got {_short(paper)}")
            for col, value in paper.items():
                if value is not None and not _is_num(value):
                    raise _fail(f"{rw}.paper[{col!r}]", f"expected a number or null, got {_short(value)}")


#: Figure kind -> fields each entry must have and the type check applied to them.
_FIGURE_FIELDS: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "reliability": (("task", str), ("method", str), ("bins", list)),
    "risk_coverage": (("task", str), ("method", str), ("curves", dict)),
    "sh_scatter": (("task", str), ("method", str), ("S", list), ("H", list)),
    "k_sweep": (("task", str), ("K", list), ("spearman_mean", list)),
}


def _check_figures(figures: Any) -> None:
    if figures is None:
        return
    if not isinstance(figures, dict):
        raise _fail("figures", f"expected an object, got {_short(figures)}")
    for kind, fields in _FIGURE_FIELDS.items():
        entries = figures.get(kind)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise _fail(f"figures.{kind}", f"expected a list, got {_short(entries)}")
        for i, entry in enumerate(entries):
            where = f"figures.{kind}[{i}]"
            if not isinstance(entry, dict):
                raise _fail(where, f"expected an object, got {_short(entry)}")
            for name, kind_type in fields:
                if not isinstance(entry.get(name), kind_type):
                    raise _fail(f"{where}.{name}", f"missing or of the wrong type: {_short(entry.get(name))}")
        if kind == "sh_scatter":
            for i, entry in enumerate(entries):
                if len(entry["S"]) != len(entry["H"]):
                    raise _fail(f"figures.sh_scatter[{i}]",
                                f"S and H differ in length ({len(entry['S'])} vs {len(entry['H'])})")


def load_results(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``RUN_DIR/results.json`` (``run_dir`` may also be the file itself).

    Raises :class:`SUAInputError` naming the problem (missing folder or file, invalid JSON with
    its line and column, or the first field that does not follow the schema).
    """
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
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SUAInputError(f"{file}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise SUAInputError(f"{file}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); "
                            "the run may have been interrupted while writing it: rerun it") from None
    where = str(file)
    if not isinstance(data, dict):
        raise _fail(where, f"expected a JSON object, got {type(data).__name__}")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise _fail(f"{where}: meta", f"expected an object, got {_short(meta)}")
    if meta.get("seeds") is not None and not isinstance(meta["seeds"], list):
        raise _fail(f"{where}: meta.seeds", f"expected a list, got {_short(meta['seeds'])}")
    if meta.get("versions") is not None and not isinstance(meta["versions"], dict):
        raise _fail(f"{where}: meta.versions", f"expected an object, got {_short(meta['versions'])}")
    _check_str_list(meta.get("notes"), f"{where}: meta.notes")
    tables = data.get("tables")
    if not isinstance(tables, list):
        raise _fail(f"{where}: tables", f"expected a list, got {_short(tables)}")
    for i, table in enumerate(tables):
        _check_table(table, f"{where}: tables[{i}]")
    try:
        _check_figures(data.get("figures"))
    except SUAInputError as exc:
        raise SUAInputError(f"{where}: {exc}") from None
    return data


# ---------------------------------------------------------------------------------------------
# Cell formatting
# ---------------------------------------------------------------------------------------------

def _f3(x: float) -> str:
    return "nan" if isinstance(x, float) and math.isnan(x) else f"{x:.3f}"


def _paper_num(x: float) -> str:
    """The paper's number as printed there (0.811, 0.81): at most 4 significant digits."""
    return f"{x:.4g}"


def _measured(cell: Any, n_seeds: int | None) -> str:
    """``mean ± std`` (3 decimals); no std for n = 1; ``[n=2]`` when n differs from the seeds."""
    if cell is None:
        return DASH
    if _is_num(cell):
        return _f3(cell)
    mean, std, n = cell.get("mean"), cell.get("std"), cell.get("n")
    if mean is None or (_is_num(mean) and not math.isfinite(mean)):  # undefined (NaN) is no value
        return DASH
    text = _f3(mean)
    if std is not None and n != 1 and not (_is_num(std) and not math.isfinite(std)):
        text += f" ± {_f3(std)}"
    if n is not None and n_seeds is not None and n != n_seeds:
        text += f" [n={n}]"
    return text


def _table_columns(table: Mapping[str, Any]) -> list[str]:
    """Declared columns, then any column a row has that was not declared (first seen first)."""
    columns = list(table["columns"])
    for row in table["rows"]:
        for col in list(row.get("cells", {})) + list(row.get("paper") or {}):
            if col not in columns:
                columns.append(col)
    return columns


def _cell_parts(row: Mapping[str, Any], col: str, n_seeds: int | None) -> tuple[str, str | None]:
    """(measured text, paper text or None) of one cell."""
    measured = _measured(row.get("cells", {}).get(col), n_seeds)
    paper = (row.get("paper") or {}).get(col)
    return measured, (_paper_num(paper) if _is_num(paper) else None)


def _key_text(value: Any) -> str:
    if value is None:
        return DASH
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _n_seeds(meta: Mapping[str, Any]) -> int | None:
    seeds = meta.get("seeds")
    return len(seeds) if isinstance(seeds, list) and seeds else None


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

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


def _meta_items(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    seeds = meta.get("seeds")
    return [
        ("Profile", _key_text(meta.get("profile"))),
        ("Seeds", ", ".join(str(s) for s in seeds) if isinstance(seeds, list) and seeds else DASH),
        ("Command", _key_text(meta.get("command"))),
        ("Started", _key_text(meta.get("started"))),
        ("Finished", _key_text(meta.get("finished"))),
    ]


def _title(meta: Mapping[str, Any]) -> str:
    profile = meta.get("profile")
    return "SUA experiment report" + (f" — profile {profile}" if profile else "")


_LEGEND = ("Cells: mean ± std over the seeds (3 decimals; no ± for a single seed; [n=…] when fewer "
           "seeds went into a cell than the table pools: the run's seeds unless its notes name "
           "others); the paper's reported number follows in parentheses where it gives one; — means "
           "not measured or not defined.")


def _render_md(data: Mapping[str, Any], figures: Sequence[tuple[str, str, str]]) -> str:
    meta = data["meta"]
    n_seeds = _n_seeds(meta)
    out = [f"# {_md(_title(meta))}", "", *glance.claims_md(glance.claims(data["tables"])), "## Run", ""]
    out += [f"- **{k}:** " + (f"`{v}`" if k == "Command" and v != DASH and "`" not in v else _md(v))
            for k, v in _meta_items(meta)]
    versions = meta.get("versions") or {}
    if versions:
        out += ["", "### Versions", ""]
        out += _md_table(["Package", "Version"], [[_md(k), _md(_key_text(v))] for k, v in versions.items()])
    notes = meta.get("notes") or []
    if notes:
        out += ["", "### Notes", ""] + [f"- {_md(n)}" for n in notes]
    out += ["", "## Tables", "", f"*{_md(_LEGEND)}*"]
    if not data["tables"]:
        out += ["", "No tables in this run."]
    for table in data["tables"]:
        out += ["", f"### {_md(table.get('title') or table['id'])}", ""]
        columns = _table_columns(table)
        rows = []
        for row in table["rows"]:
            cells = [_md(_key_text(row["keys"].get(k))) for k in table["key_columns"]]
            for col in columns:
                measured, paper = _cell_parts(row, col, table.get("seeds", n_seeds))
                cells.append(measured + (f" (paper {paper})" if paper else ""))
            rows.append(cells)
        if rows:
            out += _md_table([_md(c) for c in [*table["key_columns"], *columns]], rows)
        else:
            out.append("No rows.")
        table_notes = table.get("notes") or []
        if table_notes:
            out.append("")
            out += [f"- {_md(n)}" for n in table_notes]
    if figures:
        out += ["", "## Figures"]
        for name, title, caption in figures:
            out += ["", f"### {_md(title)}", "", f"![{_md(title)}](figures/{name})", "", _md(caption)]
    config = json.dumps(meta.get("config"), indent=2, sort_keys=False, ensure_ascii=False)
    fence = _fence(config)
    out += ["", "## Exact config", "", f"{fence}json", config, fence, ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fff}
main{max-width:1200px;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d0d0d0;padding:.3rem .55rem;vertical-align:top}
th{background:#f3f3f3;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.key{white-space:nowrap}
.paper{display:block;color:#6a6a6a;font-size:.8rem}
.legend,.caption{color:#555;font-size:.9rem}
ul.notes{color:#333;font-size:.9rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
pre{background:#f7f7f7;padding:.8rem;overflow:auto;font-size:.85rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
nav ul{columns:2;font-size:.9rem}
""".strip()


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _anchor(prefix: str, ident: str) -> str:
    return prefix + "-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", ident).strip("-") or "x")


def _render_html(data: Mapping[str, Any], figures: Sequence[tuple[str, str, str]],
                 images: Mapping[str, bytes]) -> str:
    meta = data["meta"]
    n_seeds = _n_seeds(meta)
    title = _title(meta)
    found = glance.claims(data["tables"])
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_h(title)}</title>", f"<style>\n{_CSS}\n{glance.CSS}\n</style>", "</head>", "<body>",
           "<main>", f"<h1>{_h(title)}</h1>", glance.claims_html(found)]
    toc = [("claims", "Against the paper")] * bool(found) + [("run", "Run"), ("tables", "Tables")]
    toc += [(_anchor("table", t["id"]), t.get("title") or t["id"]) for t in data["tables"]]
    if figures:
        toc.append(("figures", "Figures"))
    toc.append(("config", "Exact config"))
    out.append("<nav><ul>" + "".join(f'<li><a href="#{_h(a)}">{_h(t)}</a></li>' for a, t in toc)
               + "</ul></nav>")

    out += ['<section id="run">', "<h2>Run</h2>", '<table class="meta">']
    for k, v in _meta_items(meta):
        value = f"<code>{_h(v)}</code>" if k == "Command" and v != DASH else _h(v)
        out.append(f"<tr><th>{_h(k)}</th><td>{value}</td></tr>")
    out.append("</table>")
    versions = meta.get("versions") or {}
    if versions:
        out += ["<h3>Versions</h3>", "<table>", "<tr><th>Package</th><th>Version</th></tr>"]
        out += [f"<tr><td>{_h(k)}</td><td>{_h(_key_text(v))}</td></tr>" for k, v in versions.items()]
        out.append("</table>")
    notes = meta.get("notes") or []
    if notes:
        out += ["<h3>Notes</h3>", '<ul class="notes">'] + [f"<li>{_h(n)}</li>" for n in notes] + ["</ul>"]
    out.append("</section>")

    out += ['<section id="tables">', "<h2>Tables</h2>", f'<p class="legend">{_h(_LEGEND)}</p>']
    if not data["tables"]:
        out.append("<p>No tables in this run.</p>")
    for table in data["tables"]:
        anchor, heading = _anchor("table", table["id"]), table.get("title") or table["id"]
        out.append(f'<h3 id="{_h(anchor)}">{_h(heading)}</h3>')
        columns = _table_columns(table)
        keys = table["key_columns"]
        if table["rows"]:
            out.append('<table class="sortable">')
            out.append("<tr>" + "".join(f"<th>{_h(c)}</th>" for c in [*keys, *columns]) + "</tr>")
            for row in table["rows"]:
                cells = [f'<td class="key">{_h(_key_text(row["keys"].get(k)))}</td>' for k in keys]
                for col in columns:
                    measured, paper = _cell_parts(row, col, table.get("seeds", n_seeds))
                    extra = f'<span class="paper">paper {_h(paper)}</span>' if paper else ""
                    mark, delta = glance.delta_html(glance.cell_claim(row.get("cells", {}).get(col),
                                                                      (row.get("paper") or {}).get(col)))
                    cells.append(f'<td class="num{mark}">{_h(measured)}{extra}{delta}</td>')
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</table>")
        else:
            out.append("<p>No rows.</p>")
        table_notes = table.get("notes") or []
        if table_notes:
            out += ['<ul class="notes">'] + [f"<li>{_h(n)}</li>" for n in table_notes] + ["</ul>"]
    out.append("</section>")

    if figures:
        out += ['<section id="figures">', "<h2>Figures</h2>"]
        for name, fig_title, caption in figures:
            uri = "data:image/png;base64," + base64.b64encode(images[name]).decode("ascii")
            out += [f'<figure id="{_h(_anchor("figure", name.removesuffix(".png")))}">',
                    f"<h3>{_h(fig_title)}</h3>", f'<img src="{uri}" alt="{_h(fig_title)}">',
                    f'<figcaption class="caption">{_h(caption)}</figcaption>', "</figure>"]
        out.append("</section>")

    config = json.dumps(meta.get("config"), indent=2, ensure_ascii=False)
    out += ['<section id="config">', "<h2>Exact config</h2>",
            "<details><summary>config (JSON, as the run used it)</summary>",
            f"<pre><code>{_h(config)}</code></pre>", "</details>", "</section>",
            "</main>", f"<script>\n{glance.SORT_JS}\n</script>", "</body>", "</html>", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Figures (matplotlib, Agg, no pyplot state)
# ---------------------------------------------------------------------------------------------

def _floats(values: Sequence[Any] | None) -> list[float]:
    return [float(v) if _is_num(v) else math.nan for v in (values or [])]


def _first_seed(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One entry per (task, method): the smallest seed (first listed on ties), in first-seen order."""
    chosen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for entry in entries:
        key = (entry["task"], entry["method"])
        seed = entry.get("seed")
        best = chosen.get(key)
        if best is None or (_is_num(seed) and (not _is_num(best.get("seed")) or seed < best["seed"])):
            chosen[key] = entry
    return list(chosen.values())


def _grid(entries: Sequence[Mapping[str, Any]], draw: Callable[[Any, Mapping[str, Any]], None],
          *, panel: tuple[float, float] = (3.4, 3.0)):
    """One panel per entry: rows = tasks, columns = methods (first-seen order)."""
    from matplotlib.figure import Figure

    tasks = list(dict.fromkeys(e["task"] for e in entries))
    methods = list(dict.fromkeys(e["method"] for e in entries))
    fig = Figure(figsize=(panel[0] * len(methods), panel[1] * len(tasks)), layout="constrained")
    axes = fig.subplots(len(tasks), len(methods), squeeze=False)
    placed = {(e["task"], e["method"]): e for e in entries}
    for i, task in enumerate(tasks):
        for j, method in enumerate(methods):
            ax = axes[i][j]
            entry = placed.get((task, method))
            if entry is None:
                ax.set_axis_off()
                continue
            draw(ax, entry)
    return fig


def _draw_reliability(ax, entry: Mapping[str, Any]) -> None:
    lowers, widths, accs, confs, total, gap = [], [], [], [], 0.0, 0.0
    for b in entry["bins"]:
        if not isinstance(b, dict):
            continue
        count, acc, conf = b.get("count"), b.get("accuracy"), b.get("confidence")
        lower, upper = b.get("lower"), b.get("upper")
        if not all(_is_num(v) for v in (count, acc, conf, lower, upper)) or count <= 0:
            continue
        lowers.append(lower)
        widths.append(upper - lower)
        accs.append(acc)
        confs.append(conf)
        total += count
        gap += count * abs(acc - conf)
    ax.plot([0, 1], [0, 1], color="0.4", linestyle="--", linewidth=1)
    if lowers:
        ax.bar(lowers, accs, width=widths, align="edge", color="#4C72B0", edgecolor="white", label="accuracy")
        ax.bar(lowers, [c - a for c, a in zip(confs, accs)], bottom=accs, width=widths, align="edge",
               color="#DD8452", alpha=0.45, edgecolor="none", label="gap to confidence")
    ece = f"ECE {gap / total:.3f}" if total else "no data"
    ax.set_title(f"{entry['task']} · {entry['method']} (seed {entry.get('seed', DASH)})\n{ece}", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence", fontsize=8)
    ax.set_ylabel("accuracy", fontsize=8)
    ax.tick_params(labelsize=7)
    if lowers:
        ax.legend(fontsize=7, loc="upper left")


def _draw_risk_coverage(ax, entry: Mapping[str, Any]) -> None:
    drawn = False
    for score, curve in entry["curves"].items():
        if not isinstance(curve, dict):
            continue
        cov, risk = _floats(curve.get("coverage")), _floats(curve.get("risk"))
        n = min(len(cov), len(risk))
        if n:
            ax.plot(cov[:n], risk[:n], linewidth=1.4, label=str(score))
            drawn = True
    ax.set_title(f"{entry['task']} · {entry['method']} (seed {entry.get('seed', DASH)})", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xlabel("coverage", fontsize=8)
    ax.set_ylabel("selective risk", fontsize=8)
    ax.tick_params(labelsize=7)
    if drawn:
        ax.legend(fontsize=7, loc="upper left")


def _signature_defaults() -> tuple[float, float, list[str]]:
    from sua.measures.signature import SIGNATURES, signature

    defaults = signature.__kwdefaults__ or {}
    return float(defaults.get("s_threshold", 0.05)), float(defaults.get("h_threshold", 0.5)), list(SIGNATURES)


def _draw_sh(ax, entry: Mapping[str, Any]) -> None:
    from matplotlib.patches import Rectangle

    s_default, h_default, names = _signature_defaults()
    sens, epis, collapse, aligned = (n.replace("_", " ") for n in names)
    thresholds = entry.get("thresholds") or {}
    s_hi = float(thresholds["s_high"]) if _is_num(thresholds.get("s_high")) else s_default
    h_hi = float(thresholds["h_high"]) if _is_num(thresholds.get("h_high")) else h_default
    S, H = _floats(entry["S"]), _floats(entry["H"])
    correct = entry.get("correct") or [None] * len(S)
    pts = [(s, h, c) for s, h, c in zip(S, H, list(correct) + [None] * (len(S) - len(correct)))
           if math.isfinite(s) and math.isfinite(h)]
    x_lo = min([0.0] + [s for s, _, _ in pts])
    y_lo = min([0.0] + [h for _, h, _ in pts])
    x_hi = max([s_hi * 2.0] + [s for s, _, _ in pts]) * 1.08
    y_hi = max([h_hi * 2.0] + [h for _, h, _ in pts]) * 1.08
    # (x0, x1, y0, y1, colour, label) of the four regimes of Appendix C.
    regions = [
        (s_hi, x_hi, y_lo, h_hi, "#E07B7B", f"{sens} (high S, low H)"),
        (x_lo, s_hi, h_hi, y_hi, "#7BA7E0", f"{epis} (low S, high H)"),
        (x_lo, s_hi, y_lo, h_hi, "#BDBDBD", f"{aligned}: stable, confident; {collapse} hides here"),
        (s_hi, x_hi, h_hi, y_hi, "#9ED49E", f"{aligned}: unstable, uncertain"),
    ]
    for x0, x1, y0, y1, colour, label in regions:
        inside = [c for s, h, c in pts if (x0 <= s <= x1 if x0 == x_lo else x0 < s <= x1)
                  and (y0 <= h <= y1 if y0 == y_lo else y0 < h <= y1)]
        wrong = sum(1 for c in inside if c is False)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=colour, alpha=0.25, edgecolor="none",
                               label=f"{label}: n={len(inside)}, wrong={wrong}"))
    ax.axvline(s_hi, color="0.3", linewidth=0.8, linestyle=":")
    ax.axhline(h_hi, color="0.3", linewidth=0.8, linestyle=":")
    for value, marker, colour, label in ((True, "o", "#2E7D32", "correct"), (False, "x", "#C62828", "wrong"),
                                         (None, ".", "0.4", "no label")):
        xs = [s for s, _, c in pts if c is value]
        ys = [h for _, h, c in pts if c is value]
        if xs:
            ax.scatter(xs, ys, s=10 if marker != "x" else 14, marker=marker, color=colour, linewidths=0.8,
                       alpha=0.75, label=label)
    ax.set_xscale("symlog", linthresh=SYMLOG_LINTHRESH)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_title(f"{entry['task']} · {entry['method']} (seed {entry.get('seed', DASH)})", fontsize=9)
    ax.set_xlabel(f"sensitivity S (nats, symlog; high > {s_hi:g})", fontsize=8)
    ax.set_ylabel(f"entropy H (nats; high > {h_hi:g})", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=1, frameon=False)


def _k_sweep_figure(entries: Sequence[Mapping[str, Any]]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.subplots()
    ks: set[float] = set()
    tasks = list(dict.fromkeys(str(e["task"]) for e in entries))
    scores = list(dict.fromkeys(str(e.get("score", "")) for e in entries))
    drawn: set[tuple] = set()  # the paper's series, once each (tasks often share it)
    for entry in entries:
        colour = f"C{tasks.index(str(entry['task'])) % 10}"
        score = str(entry.get("score", ""))
        K = _floats(entry["K"])
        mean = _floats(entry["spearman_mean"])
        std = _floats(entry.get("spearman_std"))
        n = min(len(K), len(mean))
        if n:
            yerr = [0.0 if math.isnan(s) else s for s in std[:n]] if len(std) >= n else None
            ax.errorbar(K[:n], mean[:n], yerr=yerr, color=colour, marker="os^v"[scores.index(score) % 4],
                        linestyle=("-", ":", "-.")[scores.index(score) % 3], capsize=3,
                        label=" · ".join(filter(None, (str(entry["task"]), score))))
            ks.update(k for k in K[:n] if math.isfinite(k))
        paper = _floats(entry.get("paper"))
        m = min(len(K), len(paper))
        series = (tuple(K[:m]), tuple(paper[:m]))
        if m and any(math.isfinite(p) for p in paper[:m]) and series not in drawn:
            drawn.add(series)
            ax.plot(K[:m], paper[:m], color="black", linestyle="--", marker="s", markersize=4,
                    markerfacecolor="none", label="paper" + (f" · {score}" if score else ""))
            ks.update(k for k in K[:m] if math.isfinite(k))
    if ks and all(k > 0 for k in ks):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(ks))
        ax.set_xticklabels([f"{k:g}" for k in sorted(ks)])
    ax.set_xlabel("K (perturbations per input)")
    ax.set_ylabel("Spearman ρ with the large-K estimate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _figure2_layout(table: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str, str, Mapping]]]:
    """The AUROC columns to plot and (panel, group, bar, row) per row.

    Keys (Task, Subset, Score): one panel per Task, groups = Subset, bars = Score; two keys: one
    panel, groups = first, bars = second; one key: groups = it, one bar per group. The columns
    plotted are those named ``AUROC…`` (else the first), one panel column each.
    """
    keys = table["key_columns"]
    columns = [c for c in table["columns"] if c.upper().startswith("AUROC")] or table["columns"][:1]
    layout = []
    for row in table["rows"]:
        names = [_key_text(row["keys"].get(k)) for k in keys]
        if len(names) >= 3:
            panel, group, bar = names[0], " · ".join(names[1:-1]), names[-1]
        elif len(names) == 2:
            panel, group, bar = "", names[0], names[1]
        else:
            panel, group, bar = "", (names or [table["id"]])[0], ""
        layout.append((panel, group, bar, row))
    return columns, layout


def _figure2_figure(table: Mapping[str, Any]):
    """Grouped bars of failure-prediction AUROC with the paper's numbers as black diamonds."""
    from matplotlib.figure import Figure

    columns, layout = _figure2_layout(table)
    panels = list(dict.fromkeys(p for p, _, _, _ in layout))
    bars = list(dict.fromkeys(b for _, _, b, _ in layout))
    n_groups = max(len({g for p, g, _, _ in layout if p == panel}) for panel in panels)
    width = 0.8 / max(len(bars), 1)
    panel_w = min(max(5.0, 0.22 * n_groups * len(bars) + 1.5), 12.0)
    # one AUROC column under the other, so each panel keeps the page's width and legible labels
    fig = Figure(figsize=(panel_w, 3.4 * len(panels) * len(columns) + 0.6), layout="constrained")
    axes = fig.subplots(len(panels) * len(columns), 1, squeeze=False)
    for i, panel in enumerate(panels):
        rows = [(g, b, r) for p, g, b, r in layout if p == panel]
        groups = list(dict.fromkeys(g for g, _, _ in rows))
        for c, column in enumerate(columns):
            ax = axes[i * len(columns) + c][0]
            for j, bar in enumerate(bars):
                xs, ys, errs, px, py = [], [], [], [], []
                for group, name, row in rows:
                    if name != bar:
                        continue
                    x = groups.index(group) + (j - (len(bars) - 1) / 2) * width
                    cell = row.get("cells", {}).get(column)
                    mean = cell if _is_num(cell) else (cell or {}).get("mean")
                    if _is_num(mean):
                        std = cell.get("std") if isinstance(cell, dict) and cell.get("n") != 1 else None
                        xs.append(x)
                        ys.append(mean)
                        errs.append(std if _is_num(std) else 0.0)
                    paper = row.get("paper") or {}
                    value = paper.get(column, paper.get("AUROC"))
                    if _is_num(value):
                        px.append(x)
                        py.append(value)
                ax.bar(xs, ys, width=width, yerr=errs, capsize=2, color=f"C{j % 10}", label=bar or None)
                if px:
                    ax.scatter(px, py, marker="D", s=16, color="black", zorder=3, label="paper")
            tilt = len(groups) > 3 or max((len(g) for g in groups), default=0) > 18
            ax.set_xticks(range(len(groups)))
            ax.set_xticklabels(groups, rotation=20 if tilt else 0, ha="right" if tilt else "center",
                               fontsize=9)
            ax.axhline(0.5, color="0.5", linewidth=0.8, linestyle=":")
            ax.set_ylim(0.0, 1.0)
            ax.set_ylabel(column, fontsize=10)
            ax.tick_params(axis="y", labelsize=9)
            if panel:
                ax.set_title(panel, fontsize=11)
    legend: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if legend:
        fig.legend(list(legend.values()), list(legend), fontsize=9, loc="outside upper center",
                   ncols=min(len(legend), 6))
    return fig


def _save_png(fig, path: Path) -> bytes:
    """Save at 100 dpi, a figure wider than the page narrowed to it (fonts keep their size)."""
    width, height = fig.get_size_inches()
    if width > PAGE_WIDTH_IN:
        fig.set_size_inches(PAGE_WIDTH_IN, height)
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    return path.read_bytes()


#: Figure file -> (title, caption).
_CAPTIONS = {
    "figure2_auroc.png": (
        "Figure 2: failure-prediction AUROC",
        "Failure-prediction AUROC per score (bars, mean ± std over seeds); black diamonds: the paper's "
        "numbers where it gives them; dotted: chance (0.5)."),
    "reliability.png": (
        "Reliability diagrams",
        "One panel per task × method (first seed): accuracy per confidence bin (blue) and its gap to "
        "the bin's mean confidence (orange); the dashed diagonal is perfect calibration; ECE from the "
        "bins."),
    "risk_coverage.png": (
        "Risk–coverage curves",
        "One panel per task × method (first seed), one line per abstention score: selective risk "
        "(error rate on the answered inputs) against the share answered. Lower is better."),
    "sh_scatter.png": (
        "Sensitivity–entropy scatter",
        "Per input: sensitivity S against predictive entropy H (first seed), correct (green) vs wrong "
        "(red ×). The dotted thresholds split the four regimes of Appendix C: high S with low H is a "
        "sensitivity failure (SUA flags it), low S with high H is epistemic, low S with low H is "
        "stable and confident (where ambiguity collapse and invariance failures hide), high S with "
        "high H is unstable but already uncertain."),
    "k_sweep.png": (
        "K sweep (Appendix B.1)",
        "Spearman correlation of the K-perturbation SUA estimate with the large-K score (mean ± std "
        "over seeds); dashed: the paper's values."),
}


def _make_figures(data: Mapping[str, Any],
                  fig_dir: Path) -> tuple[list[tuple[str, str, str]], dict[str, bytes]]:
    """Write the PNGs; return [(file, title, caption)] in report order and the PNG bytes."""
    try:
        import matplotlib
        import matplotlib.style
    except ImportError as err:
        raise SUAInputError('the report\'s figures need matplotlib, which is not installed: '
                            'pip install "sua[report]"') from err

    figures = data.get("figures") or {}
    builders: dict[str, Callable[[], Any]] = {}
    fig2 = next((t for t in data["tables"] if t["id"] == "figure2" and t["rows"] and t["columns"]), None)
    if fig2 is not None:
        builders["figure2_auroc.png"] = lambda: _figure2_figure(fig2)
    if figures.get("reliability"):
        builders["reliability.png"] = lambda: _grid(_first_seed(figures["reliability"]), _draw_reliability)
    if figures.get("risk_coverage"):
        builders["risk_coverage.png"] = lambda: _grid(_first_seed(figures["risk_coverage"]),
                                                      _draw_risk_coverage)
    if figures.get("sh_scatter"):
        builders["sh_scatter.png"] = lambda: _grid(_first_seed(figures["sh_scatter"]), _draw_sh,
                                                   panel=(4.4, 4.6))
    if figures.get("k_sweep"):
        builders["k_sweep.png"] = lambda: _k_sweep_figure(figures["k_sweep"])
    made: list[tuple[str, str, str]] = []
    images: dict[str, bytes] = {}
    if builders:
        fig_dir.mkdir(parents=True, exist_ok=True)
    with matplotlib.style.context("default"):
        for name in FIGURE_FILES:
            if name in builders:
                images[name] = _save_png(builders[name](), fig_dir / name)
                title, caption = _CAPTIONS[name]
                if name == "figure2_auroc.png" and fig2 is not None and fig2.get("title"):
                    title = fig2["title"]
                made.append((name, title, caption))
    return made, images


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

def write_report(run_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``RUN_DIR/report/report.md`` (+ ``figures/*.png``) and ``RUN_DIR/report/report.html``.

    Reads ``RUN_DIR/results.json`` (see the module docstring for its schema); the HTML inlines
    the PNGs and its CSS and loads nothing. Same input, byte-identical output. Returns
    ``(markdown_path, html_path)``; bad input raises :class:`SUAInputError`.

    >>> md, page = write_report("runs/quick")  # doctest: +SKIP
    """
    data = load_results(run_dir)
    path = Path(run_dir)
    if path.is_file():
        path = path.parent
    out_dir = path / "report"
    fig_dir = out_dir / "figures"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SUAInputError(f"cannot write the report into {out_dir}: {exc.strerror}") from None
    for name in FIGURE_FILES:  # figures of an earlier report that this run no longer has
        (fig_dir / name).unlink(missing_ok=True)
    figures, images = _make_figures(data, fig_dir)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(_render_md(data, figures), encoding="utf-8", newline="\n")
    html_path.write_text(_render_html(data, figures, images), encoding="utf-8", newline="\n")
    return md_path, html_path


__all__ = ["load_results", "paper_numbers", "paper_values", "write_report"]
