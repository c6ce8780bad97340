"""The report as one self-contained HTML page: ``RUN_DIR/report/report.html``.

The same sections as the Markdown page, after a table of contents; the figures' PNGs are inlined
as ``data:`` URIs and the CSS and the one script (the table sorter of
:mod:`sua.eval.report.glance`) are inline, so the page loads nothing. Every piece of text from
``results.json`` is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
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


def _notes(notes: Sequence[str]) -> list[str]:
    return ['<ul class="notes">', *(f"<li>{_h(n)}</li>" for n in notes), "</ul>"]


def _toc(data: Mapping[str, Any], has_claims: bool, has_figures: bool) -> str:
    toc = [("claims", "Against the paper")] * has_claims + [("run", "Run"), ("tables", "Tables")]
    toc += [(_anchor("table", t["id"]), t.get("title") or t["id"]) for t in data["tables"]]
    toc += [("figures", "Figures")] * has_figures + [("config", "Exact config")]
    return "<nav><ul>" + "".join(f'<li><a href="#{_h(a)}">{_h(t)}</a></li>' for a, t in toc) + "</ul></nav>"


def _run(meta: Mapping[str, Any]) -> list[str]:
    out = ['<section id="run">', "<h2>Run</h2>", '<table class="meta">']
    for k, v in meta_items(meta):
        value = f"<code>{_h(v)}</code>" if k == "Command" and v != DASH else _h(v)
        out.append(f"<tr><th>{_h(k)}</th><td>{value}</td></tr>")
    out.append("</table>")
    versions = meta.get("versions") or {}
    if versions:
        out += ["<h3>Versions</h3>", "<table>", "<tr><th>Package</th><th>Version</th></tr>"]
        out += [f"<tr><td>{_h(k)}</td><td>{_h(key_text(v))}</td></tr>" for k, v in versions.items()]
        out.append("</table>")
    notes = meta.get("notes") or []
    if notes:
        out += ["<h3>Notes</h3>", *_notes(notes)]
    return [*out, "</section>"]


def _row(row: Mapping[str, Any], keys: Sequence[str], columns: Sequence[str], seeds: int | None) -> str:
    cells = [f'<td class="key">{_h(key_text(row["keys"].get(k)))}</td>' for k in keys]
    for col in columns:
        measured, paper = cell_parts(row, col, seeds)
        extra = f'<span class="paper">paper {_h(paper)}</span>' if paper else ""
        mark, delta = glance.delta_html(glance.cell_claim(row.get("cells", {}).get(col),
                                                          (row.get("paper") or {}).get(col)))
        cells.append(f'<td class="num{mark}">{_h(measured)}{extra}{delta}</td>')
    return "<tr>" + "".join(cells) + "</tr>"


def _table(table: Mapping[str, Any], run_seeds: int | None) -> list[str]:
    anchor, heading = _anchor("table", table["id"]), table.get("title") or table["id"]
    out = [f'<h3 id="{_h(anchor)}">{_h(heading)}</h3>']
    columns = table_columns(table)
    keys = table["key_columns"]
    if table["rows"]:
        out.append('<table class="sortable">')
        out.append("<tr>" + "".join(f"<th>{_h(c)}</th>" for c in [*keys, *columns]) + "</tr>")
        out += [_row(row, keys, columns, table.get("seeds", run_seeds)) for row in table["rows"]]
        out.append("</table>")
    else:
        out.append("<p>No rows.</p>")
    table_notes = table.get("notes") or []
    if table_notes:
        out += _notes(table_notes)
    return out


def _figures(figures: Sequence[tuple[str, str, str]], images: Mapping[str, bytes]) -> list[str]:
    if not figures:
        return []
    out = ['<section id="figures">', "<h2>Figures</h2>"]
    for name, fig_title, caption in figures:
        uri = "data:image/png;base64," + base64.b64encode(images[name]).decode("ascii")
        out += [f'<figure id="{_h(_anchor("figure", name.removesuffix(".png")))}">',
                f"<h3>{_h(fig_title)}</h3>", f'<img src="{uri}" alt="{_h(fig_title)}">',
                f'<figcaption class="caption">{_h(caption)}</figcaption>', "</figure>"]
    return [*out, "</section>"]


def render_html(data: Mapping[str, Any], figures: Sequence[tuple[str, str, str]],
                images: Mapping[str, bytes]) -> str:
    """The HTML page of checked results ``data``; ``figures``: (file, title, caption) in order,
    ``images``: each file's PNG bytes."""
    meta = data["meta"]
    page_title = title(meta)
    found = glance.claims(data["tables"])
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_h(page_title)}</title>", f"<style>\n{_CSS}\n{glance.CSS}\n</style>", "</head>",
           "<body>", "<main>", f"<h1>{_h(page_title)}</h1>", glance.claims_html(found),
           _toc(data, bool(found), bool(figures)), *_run(meta)]
    out += ['<section id="tables">', "<h2>Tables</h2>", f'<p class="legend">{_h(LEGEND)}</p>']
    if not data["tables"]:
        out.append("<p>No tables in this run.</p>")
    for table in data["tables"]:
        out += _table(table, n_seeds(meta))
    out += ["</section>", *_figures(figures, images)]
    config = json.dumps(meta.get("config"), indent=2, ensure_ascii=False)
    out += ['<section id="config">', "<h2>Exact config</h2>",
            "<details><summary>config (JSON, as the run used it)</summary>",
            f"<pre><code>{_h(config)}</code></pre>", "</details>", "</section>",
            "</main>", f"<script>\n{glance.SORT_JS}\n</script>", "</body>", "</html>", ""]
    return "\n".join(out)
