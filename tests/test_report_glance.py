"""The report at a glance: Δ against the paper, the claims section, figure sizes, the symlog S axis."""

from __future__ import annotations

import json
import struct

import pytest
from test_report import _results

from sua.eval.report import figures
from sua.eval.report.glance import TOLERANCE, Claim, cell_claim, claims
from sua.eval.report.write import write_report


@pytest.mark.parametrize("cell, paper, delta, within", [
    ({"mean": 0.662, "std": 0.018, "n": 3}, 0.811, -0.149, False),   # the NLI accuracy of the issue
    ({"mean": 0.80, "std": 0.05, "n": 3}, 0.89, -0.09, True),        # within two seed std
    ({"mean": 0.80, "std": 0.05, "n": 1}, 0.83, -0.03, False),       # one seed: no std, the tolerance only
    (0.80, 0.815, -0.015, True),                                      # a bare number, within the tolerance
])
def test_a_cell_reproduces_within_two_std_or_the_tolerance(cell, paper, delta, within):
    claim = cell_claim(cell, paper)
    assert claim.delta == pytest.approx(delta)
    assert claim.within is within


def test_missing_sides_make_no_claim():
    assert cell_claim(None, 0.8) is None
    assert cell_claim({"mean": None, "std": None, "n": 0}, 0.8) is None
    assert cell_claim({"mean": 0.8, "std": 0.0, "n": 3}, None) is None
    assert Claim("t", "r", "c", 0.5, 0.0, 0.5 + TOLERANCE / 2).within


def test_claims_of_a_run_and_where_the_report_puts_them(tmp_path):
    data = _results()
    found = claims(data["tables"])
    # NLI · Standard has paper numbers for Acc, Rob. Acc, ECE, AUROC (not measured), Sel. Acc (80%)
    assert [(c.column, round(c.delta, 4)) for c in found] == [
        ("Acc", round(0.8 - 0.811, 4)), ("Rob. Acc", round(0.7012 - 0.693, 4)),
        ("ECE", round(0.1 - 0.109, 4)), ("Sel. Acc (80%)", round(0.85 - 0.841, 4))]
    data["tables"][0]["rows"][0]["cells"]["Acc"] = {"mean": 0.662, "std": 0.018, "n": 3}
    (tmp_path / "results.json").write_text(json.dumps(data), encoding="utf-8")
    md, page = write_report(tmp_path)
    text = page.read_text(encoding="utf-8")
    assert text.index('<section id="claims">') < text.index('<section id="run">')
    assert "<b>3 of 4</b>" in text
    assert '<td class="num off">0.662 ± 0.018<span class="paper">paper 0.811</span>' \
           '<span class="delta">Δ -0.149</span></td>' in text
    assert '<td class="num within">0.100 [n=1]<span class="paper">paper 0.109</span>' \
           '<span class="delta">Δ -0.009</span></td>' in text
    md_text = md.read_text(encoding="utf-8")
    assert md_text.index("## Against the paper") < md_text.index("## Run")
    assert "| Table 2: main results | 3 | 4 |" in md_text


def test_figures_fit_the_page_and_the_scatter_has_a_symlog_s_axis(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(_results()), encoding="utf-8")
    write_report(tmp_path)
    for name in figures.FIGURE_FILES:
        png = (tmp_path / "report" / "figures" / name).read_bytes()
        width, _ = struct.unpack(">II", png[16:24])
        assert width <= figures.PAGE_WIDTH_IN * 100, name
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    figures._draw_sh(ax, _results()["figures"]["sh_scatter"][0])
    assert ax.get_xscale() == "symlog"
