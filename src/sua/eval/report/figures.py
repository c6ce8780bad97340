"""The report's figures as PNG files (matplotlib, Agg, no pyplot state): ``RUN_DIR/report/figures/``.

From the results' ``figure2`` table: grouped AUROC bars with the paper's numbers; from its
``figures``: reliability diagrams, risk–coverage curves and the S–H scatter (one panel per task ×
method, first seed) and the K sweep. PNGs are saved at 100 dpi without a version stamp, no wider
than the HTML page, so the same results give byte-identical files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.eval.report.cells import DASH, key_text
from sua.eval.report.schema import cell_mean, cell_std, is_number

#: Names of the figure PNGs, in the order they appear in the report.
FIGURE_FILES = ("figure2_auroc.png", "reliability.png", "risk_coverage.png", "sh_scatter.png", "k_sweep.png")
#: The S axis of the S–H scatter is linear below this and logarithmic above (S piles up near 0).
SYMLOG_LINTHRESH = 1e-5
#: Widest figure, in inches at the PNGs' 100 dpi: the page's 1150 px, so figures show at 100 %.
PAGE_WIDTH_IN = 11.5


def _floats(values: Sequence[Any] | None) -> list[float]:
    return [float(v) if is_number(v) else math.nan for v in (values or [])]


def _first_seed(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One entry per (task, method): the smallest seed (first listed on ties), in first-seen order."""
    chosen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for entry in entries:
        key = (entry["task"], entry["method"])
        seed = entry.get("seed")
        best = chosen.get(key)
        if best is None or (is_number(seed) and (not is_number(best.get("seed")) or seed < best["seed"])):
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
        if not all(is_number(v) for v in (count, acc, conf, lower, upper)) or count <= 0:
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
    ax.set_ylim(0, 1)
    _unit_panel(ax, "confidence", "accuracy", legend=bool(lowers))


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
    _unit_panel(ax, "coverage", "selective risk", legend=drawn)


def _unit_panel(ax, xlabel: str, ylabel: str, *, legend: bool) -> None:
    """The small panel of a per-model figure: x over [0, 1], its labels, and a legend when
    something was drawn."""
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if legend:
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
    s_hi = float(thresholds["s_high"]) if is_number(thresholds.get("s_high")) else s_default
    h_hi = float(thresholds["h_high"]) if is_number(thresholds.get("h_high")) else h_default
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
        names = [key_text(row["keys"].get(k)) for k in keys]
        if len(names) >= 3:
            panel, group, bar = names[0], " · ".join(names[1:-1]), names[-1]
        elif len(names) == 2:
            panel, group, bar = "", names[0], names[1]
        else:
            panel, group, bar = "", (names or [table["id"]])[0], ""
        layout.append((panel, group, bar, row))
    return columns, layout


def figure2_figure(table: Mapping[str, Any]):
    """Grouped bars of failure-prediction AUROC (error bars: a cell's 95 % interval ``ci``, else
    ± its std over seeds) with the paper's numbers as black diamonds."""
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
        for c, column in enumerate(columns):
            _figure2_panel(axes[i * len(columns) + c][0], rows, bars, column, width, panel)
    _shared_legend(fig, axes.flat)
    return fig


def _error_bar(value: Any) -> tuple[float, float]:
    """(below, above) the mean of a cell's error bar: its 95 % interval ``ci`` where it has one,
    else ± its std over seeds, else none."""
    ci = value.get("ci") if isinstance(value, Mapping) else None
    if ci is not None and all(is_number(v) for v in ci):
        return cell_mean(value) - ci[0], ci[1] - cell_mean(value)
    std = cell_std(value)
    return (std, std) if is_number(std) else (0.0, 0.0)


def _bar_points(rows: Sequence[tuple[str, str, Mapping]], bar: str, groups: Sequence[str], column: str,
                offset: float) -> tuple[list[tuple[float, Any, float, float]], list[tuple[float, Any]]]:
    """One bar series of a Figure 2 panel: (x, mean, error below, error above) of the run's cells
    (:func:`_error_bar`) and (x, value) of the paper's numbers (the column's, else the paper's
    ``AUROC``)."""
    measured, paper_points = [], []
    for group, name, row in rows:
        if name != bar:
            continue
        x = groups.index(group) + offset
        value = row.get("cells", {}).get(column)
        mean = cell_mean(value)
        if is_number(mean):
            measured.append((x, mean, *_error_bar(value)))
        paper = row.get("paper") or {}
        number = paper.get(column, paper.get("AUROC"))
        if is_number(number):
            paper_points.append((x, number))
    return measured, paper_points


def _figure2_panel(ax, rows: Sequence[tuple[str, str, Mapping]], bars: Sequence[str], column: str,
                   width: float, panel: str) -> None:
    """One AUROC column of one panel: a group of bars per group, the paper's diamonds on top."""
    groups = list(dict.fromkeys(g for g, _, _ in rows))
    for j, bar in enumerate(bars):
        measured, paper = _bar_points(rows, bar, groups, column, (j - (len(bars) - 1) / 2) * width)
        xs, ys, below, above = ([list(v) for v in zip(*measured)] if measured else ([], [], [], []))
        ax.bar(xs, ys, width=width, yerr=[below, above], capsize=2, color=f"C{j % 10}", label=bar or None)
        if paper:
            ax.scatter([x for x, _ in paper], [v for _, v in paper], marker="D", s=16, color="black",
                       zorder=3, label="paper")
    tilt = len(groups) > 3 or max((len(g) for g in groups), default=0) > 18
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20 if tilt else 0, ha="right" if tilt else "center", fontsize=9)
    ax.axhline(0.5, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel(column, fontsize=10)
    ax.tick_params(axis="y", labelsize=9)
    if panel:
        ax.set_title(panel, fontsize=11)


def _shared_legend(fig, axes) -> None:
    """One legend above the figure with every label of ``axes`` once (first handle wins)."""
    legend: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if legend:
        fig.legend(list(legend.values()), list(legend), fontsize=9, loc="outside upper center",
                   ncols=min(len(legend), 6))


def save_png(fig, path: Path) -> bytes:
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


def _figure2_table(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The results' ``figure2`` table when it has rows and columns to plot."""
    return next((t for t in data["tables"] if t["id"] == "figure2" and t["rows"] and t["columns"]), None)


def _builders(data: Mapping[str, Any]) -> dict[str, Callable[[], Any]]:
    """File -> figure builder, for each figure the results hold data for."""
    figures = data.get("figures") or {}
    builders: dict[str, Callable[[], Any]] = {}
    fig2 = _figure2_table(data)
    if fig2 is not None:
        builders["figure2_auroc.png"] = lambda: figure2_figure(fig2)
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
    return builders


def make_figures(data: Mapping[str, Any],
                 fig_dir: Path) -> tuple[list[tuple[str, str, str]], dict[str, bytes]]:
    """Write the PNGs of checked results ``data`` into ``fig_dir``; return [(file, title, caption)]
    in :data:`FIGURE_FILES` order and each file's PNG bytes. No matplotlib: :class:`SUAInputError`."""
    try:
        import matplotlib.style
    except ImportError as err:
        raise SUAInputError('the report\'s figures need matplotlib, which is not installed: '
                            'pip install "sua[report]"') from err

    builders = _builders(data)
    fig2_title = (_figure2_table(data) or {}).get("title")
    made: list[tuple[str, str, str]] = []
    images: dict[str, bytes] = {}
    if builders:
        fig_dir.mkdir(parents=True, exist_ok=True)
    with matplotlib.style.context("default"):
        for name in FIGURE_FILES:
            if name in builders:
                images[name] = save_png(builders[name](), fig_dir / name)
                title, caption = _CAPTIONS[name]
                if name == "figure2_auroc.png" and fig2_title:
                    title = fig2_title
                made.append((name, title, caption))
    return made, images
