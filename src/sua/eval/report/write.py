"""`sua report RUN_DIR`: write the report pages and figures of a run's ``results.json``."""

from __future__ import annotations

import os
from pathlib import Path

from sua.errors import SUAInputError
from sua.eval.report.figures import FIGURE_FILES, make_figures
from sua.eval.report.html import render_html
from sua.eval.report.markdown import render_markdown
from sua.eval.report.schema import load_results


def write_report(run_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``RUN_DIR/report/report.md`` (+ ``figures/*.png``) and ``RUN_DIR/report/report.html``.

    Reads ``RUN_DIR/results.json`` (layout in :mod:`sua.eval.report.schema`; ``run_dir`` may be the
    file itself); the HTML inlines the PNGs and its CSS and loads nothing. The output is a pure
    function of ``results.json``: same input, byte-identical files; figures of an earlier report
    that this run no longer has are removed. Returns ``(markdown_path, html_path)``; bad input
    raises :class:`SUAInputError`.

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
    for name in FIGURE_FILES:
        (fig_dir / name).unlink(missing_ok=True)
    figures, images = make_figures(data, fig_dir)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(render_markdown(data, figures), encoding="utf-8", newline="\n")
    html_path.write_text(render_html(data, figures, images), encoding="utf-8", newline="\n")
    return md_path, html_path
