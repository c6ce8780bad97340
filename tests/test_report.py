"""`sua report`: Markdown + self-contained HTML from a run's results.json, and the paper's numbers."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from sua.cli import main
from sua.errors import SUAInputError
from sua.eval.report.figures import FIGURE_FILES
from sua.eval.report.paper import paper_numbers, paper_values
from sua.eval.report.schema import load_results
from sua.eval.report.write import write_report

COLUMNS = ["Acc", "Rob. Acc", "ECE", "AUROC", "Sel. Acc (80%)"]


def _cell(mean, std=0.01, n=3):
    return {"mean": mean, "std": std, "n": n}


def _results() -> dict:
    rng = np.random.default_rng(0)
    reliability, risk_coverage, scatter = [], [], []
    edges = np.linspace(0, 1, 16)
    for task in ("nli", "topic"):
        for method in ("standard", "sua-tr"):
            for seed in (1, 0):  # the report must pick seed 0, whatever the order
                bins = [{"lower": float(lo), "upper": float(hi), "confidence": float((lo + hi) / 2),
                         "accuracy": float(np.clip((lo + hi) / 2 - 0.05 * seed, 0, 1)),
                         "count": int(rng.integers(0, 30))} for lo, hi in zip(edges[:-1], edges[1:])]
                reliability.append({"task": task, "method": method, "seed": seed, "bins": bins})
                cov = np.linspace(0.05, 1, 20).tolist()
                risk_coverage.append({"task": task, "method": method, "seed": seed, "curves": {
                    "sua": {"coverage": cov, "risk": (np.array(cov) * 0.2).tolist()},
                    "entropy": {"coverage": cov, "risk": (np.array(cov) * 0.25).tolist()}}})
                S = rng.exponential(0.05, 60)
                H = rng.uniform(0, 1.1, 60)
                scatter.append({"task": task, "method": method, "seed": seed,
                                "S": S.tolist(), "H": H.tolist(),
                                "correct": (rng.uniform(size=60) > S * 5).tolist(),
                                "thresholds": {"s_high": 0.05, "h_high": 0.5}})
    return {
        "meta": {"profile": "quick", "seeds": [0, 1, 2], "command": "sua reproduce all --profile quick",
                 "versions": {"sua": "0.1.0", "torch": "2.13.0"},
                 "config": {"tasks": ["nli", "topic"], "methods": ["standard", "sua-tr"], "k": 8,
                            "nested": {"lam": 1.0, "weird": "a<b & c"}},
                 "started": "2026-01-01T00:00:00", "finished": "2026-01-01T01:00:00",
                 "notes": ["quick profile: 200 examples per task", "beware <script>alert(1)</script>"]},
        "tables": [
            {"id": "table2", "title": "Table 2: main results", "key_columns": ["Task", "Method"],
             "columns": COLUMNS + ["Extra col"],
             "rows": [
                 {"keys": {"Task": "NLI", "Method": "Standard"},
                  "cells": {"Acc": _cell(0.8), "Rob. Acc": _cell(0.7012, 0.0234), "ECE": _cell(0.1, n=1),
                            "AUROC": None, "Sel. Acc (80%)": _cell(0.85, n=2), "Extra col": 3},
                  "paper": paper_values("table2", {"Task": "nli", "Method": "standard"})},
                 {"keys": {"Task": "NLI", "Method": "Self-Consist."},
                  "cells": {"Acc": _cell(0.8), "ECE": None},
                  "paper": None},
             ],
             "notes": ["AUROC: failure prediction with the method's own score",
                       "x <script>bad()</script> y"]},
            {"id": "figure2", "title": "Figure 2: AUROC by score", "key_columns": ["Task", "Subset", "Score"],
             "columns": ["AUROC (Standard)", "AUROC (SUA-TR)", "error rate", "n"],
             "rows": [{"keys": {"Task": task, "Subset": subset, "Score": score},
                       "cells": {"AUROC (Standard)": _cell(m), "AUROC (SUA-TR)": _cell(m + 0.05),
                                 "error rate": _cell(0.2), "n": _cell(100.0, 0.0)},
                       "paper": paper_values("figure2", {"Task": task, "Subset": subset, "Score": score})}
                      for task in ("NLI", "Class.") for subset in ("in-domain", "ambiguous", "adversarial")
                      for score, m in (("sua", 0.7), ("entropy", 0.6), ("self-consistency", 0.55))]},
            {"id": "b4", "title": "B.4", "key_columns": ["Coverage"], "columns": ["SUA", "Entropy"],
             "rows": [], "notes": []},
        ],
        "figures": {
            "reliability": reliability, "risk_coverage": risk_coverage, "sh_scatter": scatter,
            "k_sweep": [{"task": task, "score": score, "K": [2, 4, 8, 16],
                         "spearman_mean": [0.6, 0.8, 0.9, None], "spearman_std": [0.05, 0.03, 0.02, None],
                         "paper": [0.71, 0.84, 0.93, 0.95] if score == "SUA" else None}
                        for task in ("nli", "topic") for score in ("SUA", "S")],
        },
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path, Path]:
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "results.json").write_text(json.dumps(_results()), encoding="utf-8")
    md, page = write_report(run_dir)
    return run_dir, md, page


def _png_ok(data: bytes) -> bool:
    """A PNG signature, an IHDR first and every chunk's CRC right."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            return False
        kinds.append(kind)
        pos += 12 + length
    return kinds[0] == b"IHDR" and kinds[-1] == b"IEND"


def test_markdown_tables(run):
    run_dir, md, _ = run
    assert md == run_dir / "report" / "report.md"
    text = md.read_text(encoding="utf-8")
    assert "| Task | Method | Acc | Rob. Acc | ECE | AUROC | Sel. Acc (80%) | Extra col |" in text
    row = next(line for line in text.splitlines() if line.startswith("| NLI | Standard |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "0.800 ± 0.010 (paper 0.811)"
    assert cells[3] == "0.701 ± 0.023 (paper 0.693)"
    assert cells[4] == "0.100 [n=1] (paper 0.109)"  # n = 1: no std; fewer seeds than the run: said
    assert cells[5] == "— (paper 0.644)"  # null cell, paper number still shown
    assert cells[6] == "0.850 ± 0.010 [n=2] (paper 0.841)"
    assert cells[7] == "3.000"
    row = next(line for line in text.splitlines() if line.startswith("| NLI | Self-Consist. |"))
    assert [c.strip() for c in row.strip("|").split("|")][2:] == ["0.800 ± 0.010"] + ["—"] * 5
    # the paper's Figure 2 numbers have a column of their own when the run's AUROC columns differ
    assert "| Task | Subset | Score | AUROC (Standard) | AUROC (SUA-TR) | error rate | n | AUROC |" in text
    assert "| NLI | ambiguous | sua | 0.700 ± 0.010 | 0.750 ± 0.010 | 0.200 ± 0.010 | 100.000 ± 0.000 | " \
           "— (paper 0.81) |" in text
    assert "| Class. | adversarial | self-consistency | 0.550 ± 0.010 | 0.600 ± 0.010 | 0.200 ± 0.010 | " \
           "100.000 ± 0.000 | — (paper 0.66) |" in text
    assert "- AUROC: failure prediction with the method's own score" in text
    assert "<script>" not in text and "\\<script\\>" in text
    assert "**Profile:** quick" in text and "`sua reproduce all --profile quick`" in text
    assert "| torch | 2.13.0 |" in text
    assert '```json\n{\n  "tasks": [' in text and '"weird": "a<b & c"' in text
    for name in FIGURE_FILES:
        assert f"](figures/{name})" in text


def test_html_self_contained_and_escaped(run):
    run_dir, md, page = run
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    # one inline script (the table sorter), nothing loaded from elsewhere
    assert re.findall(r"<script[^>]*>", text.lower()) == ["<script>"] and "<link" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;script&gt;bad()&lt;/script&gt;" in text
    assert "a&lt;b &amp; c" in text  # the config, escaped inside <details>
    assert "<details>" in text
    images = re.findall(r'<img src="([^"]+)"', text)
    assert len(images) == len(FIGURE_FILES)
    import base64
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        assert _png_ok(base64.b64decode(uri.split(",", 1)[1]))
    assert "0.800 ± 0.010" in text and '<span class="paper">paper 0.811</span>' in text
    assert "<td class=\"num\">—</td>" in text


def test_figures_are_valid_pngs(run):
    run_dir, _, _ = run
    for name in FIGURE_FILES:
        data = (run_dir / "report" / "figures" / name).read_bytes()
        assert _png_ok(data), name
        assert b"Software" not in data  # no matplotlib version stamp


def test_byte_identical_across_runs(run, tmp_path):
    run_dir, md, page = run
    first = {p.relative_to(run_dir): p.read_bytes() for p in (run_dir / "report").rglob("*") if p.is_file()}
    other = tmp_path / "again"
    other.mkdir()
    (other / "results.json").write_bytes((run_dir / "results.json").read_bytes())
    write_report(other)
    second = {p.relative_to(other): p.read_bytes() for p in (other / "report").rglob("*") if p.is_file()}
    assert first == second


def test_missing_figures_and_empty_tables(tmp_path):
    data = {"meta": {"config": None}, "tables": []}
    (tmp_path / "results.json").write_text(json.dumps(data))
    (tmp_path / "report" / "figures").mkdir(parents=True)
    (tmp_path / "report" / "figures" / "k_sweep.png").write_bytes(b"stale")
    md, page = write_report(tmp_path / "results.json")  # the file itself is accepted too
    assert "No tables in this run." in md.read_text()
    assert "data:image" not in page.read_text()
    assert not (tmp_path / "report" / "figures" / "k_sweep.png").exists()


def test_a_table_pooling_fewer_seeds_than_the_run_flags_only_its_own_shortfall(tmp_path):
    """Table 3 runs on one seed in a 3-seed run: its cells carry no [n=1]; a 3-seed table does."""
    rows = [{"keys": {"Method": "SUA-TR"}, "cells": {"Acc": _cell(0.7, 0.0, 1)}, "paper": None}]
    tables = [{"id": "table3", "title": "T3", "key_columns": ["Method"], "columns": ["Acc"], "rows": rows,
               "seeds": 1},
              {"id": "table2", "title": "T2", "key_columns": ["Method"], "columns": ["Acc"], "rows": rows}]
    (tmp_path / "results.json").write_text(json.dumps({"meta": {"seeds": [0, 1, 2]}, "tables": tables}))
    md, _ = write_report(tmp_path)
    text = md.read_text(encoding="utf-8")
    assert text.split("### T2")[0].count("| SUA-TR | 0.700 |") == 1
    assert "| SUA-TR | 0.700 [n=1] |" in text.split("### T2")[1]


@pytest.mark.parametrize("content, match", [
    (None, "has no results.json"),
    ("{not json", r"results.json:1:2: not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"meta": {}}', "tables: expected a list"),
    ('{"meta": {}, "tables": [{"id": "t", "key_columns": ["A"], "columns": ["x"], "rows": [{"keys": {}, '
     '"cells": {"x": "high"}}]}]}', r"tables\[0\]\.rows\[0\]\.cells\['x'\]"),
    ('{"meta": {}, "tables": [], "figures": {"sh_scatter": '
     '[{"task": "a", "method": "b", "S": [1], "H": []}]}}',
     "S and H differ in length"),
])
def test_bad_input(tmp_path, content, match):
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    with pytest.raises(SUAInputError, match=match):
        load_results(tmp_path)


def test_cli(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps({"meta": {"profile": "quick"}, "tables": []}))
    assert main(["report", str(tmp_path)]) == 0
    report = tmp_path / "report"
    assert capsys.readouterr().out.split() == [str(report / "report.md"), str(report / "report.html")]
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sua report: error: run folder not found") and err.count("\n") == 1


def test_paper_numbers_match_the_paper():
    """Hand-checked against shared/paper/paper.txt §6.5-6.7 and Appendix B."""
    tables = paper_numbers()["tables"]
    assert len(tables["table2"]["rows"]) == 15
    assert paper_values("table2", {"Task": "QA", "Method": "Standard"}) == {
        "Acc": 0.742, "Rob. Acc": 0.618, "ECE": 0.142, "AUROC": 0.621, "Sel. Acc (80%)": 0.789}
    assert paper_values("table2", {"Task": "topic", "Method": "sua-tr"})["Rob. Acc"] == 0.839
    assert paper_values("table2", {"Task": "classification", "Method": "self-consistency"})["ECE"] is None
    assert paper_values("table2", {"Task": "NLI", "Method": "AT"})["AUROC"] == 0.651
    assert [r["keys"]["Method"] for r in tables["table3"]["rows"]] == [
        "SUA-TR (full)", "w/o L_align (β=0)", "w/o L_cons (α=0)", "Standard (α=β=0)", "Adv-only", "Para-only",
        "K=4", "K=8", "K=16"]
    assert paper_values("table3", {"Method": "sua-tr-no-align"})["ECE"] == 0.079
    assert paper_values("table3", {"Method": "sua-tr-no-cons"})["Rob. Acc"] == 0.681
    assert paper_values("table3", {"Method": "sua-tr-k16"})["Sel. Acc (80%)"] == 0.853
    assert tables["b1"]["K"] == [2, 4, 8, 16] and tables["b1"]["spearman"] == [0.71, 0.84, 0.93, 0.95]
    assert tables["b4"]["sua"] == [0.812, 0.852, 0.891] and tables["b4"]["entropy"] == [0.791, 0.821, 0.843]
    assert paper_values("b4", {"Coverage": 0.7, "Score": "entropy"}) == {"Sel. Acc": 0.843}
    assert paper_values("figure2", {"Task": "nli", "Subset": "ambiguous", "Score": "entropy"}) == {
        "AUROC": 0.64}
    assert paper_values("figure2", {"Task": "qa", "Subset": "adversarial", "Score": "self-consistency"}) == {
        "AUROC": 0.66}
    assert paper_values("figure2", {"Task": "qa", "Subset": "ambiguous", "Score": "sua"}) is None
    assert paper_values("nope", {"Task": "QA"}) is None
    paper_numbers()["tables"].clear()  # a copy: the cache is untouched
    assert paper_numbers()["tables"]


def test_the_table_builder_writes_the_layout_the_report_reads():
    """reproduce's TableBuilder and the report's checker share one schema: what one writes the
    other accepts, cells pool the seeds as mean, sample std and n, and the paper's row rides along."""
    from sua.eval.report import schema
    from sua.eval.reproduce import TableBuilder

    builder = TableBuilder("table2", "T2", ["Task", "Method"], ["Acc", "AUROC"], paper_table="table2",
                           seeds=2)
    builder.add({"Task": "NLI", "Method": "Standard"}, {"Acc": 0.8, "AUROC": float("nan")},
                {"Task": "nli", "Method": "standard"})
    builder.add({"Task": "NLI", "Method": "Standard"}, {"Acc": 0.6})
    results = schema.new_results()
    results["tables"].append(builder.to_dict())
    schema.check_results(results, "built")
    table = results["tables"][0]
    assert table["seeds"] == 2 and list(results["figures"]) == list(schema.FIGURE_FIELDS)
    row = table["rows"][0]
    assert row["keys"] == {"Task": "NLI", "Method": "Standard"}
    # pooled over the two seeds: mean, sample std |a − b| / √2 and n
    assert row["cells"]["Acc"] == pytest.approx({"mean": 0.7, "std": 0.2 / 2 ** 0.5, "n": 2})
    assert row["cells"]["AUROC"] is None  # NaN is no value: nothing pooled
    assert row["paper"]["Acc"] == 0.811
