"""The explorer and the report in a real headless Chromium (Debian's, driven over DevTools)."""

from __future__ import annotations

import json

import pytest
from chromium import Chromium, chromium_binary
from test_explorer import PAIRS, K, nli_scores

from sua.eval.explorer import write_explorer
from sua.io import read_jsonl

pytestmark = pytest.mark.skipif(chromium_binary() is None,
                                reason="needs Debian chromium (bash scripts/install_system_deps.sh)")


@pytest.fixture(scope="module")
def browser():
    with Chromium() as chromium:
        yield chromium


def click(browser: Chromium, selector: str) -> None:
    """A bubbling click on the first element ``selector`` matches (SVG elements have no .click())."""
    browser.eval(f"document.querySelector({json.dumps(selector)})"
                 ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")


def test_explorer_renders_sorts_and_opens_rewrites(browser, tmp_path):
    scores = nli_scores(tmp_path)
    records = [rec for _, rec in read_jsonl(scores)]
    browser.goto(write_explorer(scores))
    assert browser.eval("document.body.dataset.ready") == "1"
    assert browser.errors == []
    assert browser.eval("document.querySelectorAll('#body tr.row').length") == len(PAIRS)
    assert browser.eval("document.querySelectorAll('#scatter circle.pt').length") == len(PAIRS)

    click(browser, '#head th[data-key="S"]')
    by_s = sorted(records, key=lambda r: -r["sensitivity"])
    shown = browser.eval("[...document.querySelectorAll('#body tr.row')].map(tr => tr.cells[0].textContent)")
    assert shown[0] == by_s[0]["id"]
    assert [r["id"] for r in by_s] == shown
    click(browser, '#head th[data-key="S"]')  # a second click: ascending
    assert browser.eval("document.querySelector('#body tr.row').cells[0].textContent") == by_s[-1]["id"]

    click(browser, "#body tr.row")
    assert browser.eval("document.querySelectorAll('#body tr.detail tr.rewrite').length") == K
    first = by_s[-1]
    texts = browser.eval("[...document.querySelectorAll('#body tr.detail tr.rewrite td.text')]"
                         ".map(td => td.textContent)")
    changed = [p for p in first["perturbations"] if p["text"] != PAIRS[int(first["id"][3:])][1]]
    # the diff shows the rewrite's words plus the struck original words: every rewrite word is there
    for text, pert in zip(texts, first["perturbations"], strict=True):
        assert all(word in text for word in pert["text"].split())
    assert browser.eval("document.querySelectorAll('#body tr.detail ins').length") >= len(changed) > 0
    # the word diff: a replaced word is struck then added; the text is escaped
    assert browser.eval("wordDiff('A happy  woman <b>.', 'A hppy woman <b>.')") == \
        "A <del>happy</del> <ins>hppy</ins> woman &lt;b&gt;."
    assert browser.eval("wordDiff('two dogs run', 'two big dogs')") == \
        "two <ins>big</ins> dogs <del>run</del>"
    assert browser.errors == []


def test_a_plot_point_selects_its_row_and_filters_narrow_the_table(browser, tmp_path):
    scores = nli_scores(tmp_path)
    browser.goto(write_explorer(scores))
    click(browser, '#scatter circle.pt[data-i="2"]')
    assert browser.eval("document.querySelectorAll('#body tr.row').length") == 1
    assert browser.eval("document.querySelector('#body tr.row').cells[0].textContent") == "ex-2"
    assert browser.eval("document.querySelectorAll('#body tr.detail tr.rewrite').length") == K
    click(browser, "#clear")
    browser.eval("const q = document.getElementById('ok'); q.value = 'false';"
                 "q.dispatchEvent(new Event('input'))")
    wrong = sum(1 for _, rec in read_jsonl(scores) if rec["correct"] is False)
    assert browser.eval("document.querySelectorAll('#body tr.row').length") == wrong
    assert browser.errors == []


def test_long_files_are_paged(browser, tmp_path):
    n = 450
    rec = {"prediction": "a", "label": "a", "correct": True, "probs": [1.0], "entropy": 0.1,
           "max_prob": 0.9, "confidence": 0.9, "sensitivity_worst": 0.1, "sua": 0.0, "ambiguity": 0.0,
           "signature": "stable", "perturbations": [], "extra": {}}
    scores = tmp_path / "many.jsonl"
    scores.write_text("".join(json.dumps({**rec, "id": f"r{i}", "sensitivity": i / n, "correct": i % 3 > 0})
                              + "\n" for i in range(n)), encoding="utf-8")
    browser.goto(write_explorer(scores))
    assert browser.errors == []
    assert browser.eval("document.querySelectorAll('#body tr.row').length") == 200
    assert browser.eval("document.getElementById('count').textContent") == f"{n} of {n} inputs"
    click(browser, '#head th[data-key="S"]')
    click(browser, "#next")
    click(browser, "#next")
    assert browser.eval("document.querySelectorAll('#body tr.row').length") == n - 400
    assert browser.eval("document.querySelector('#body tr.row').cells[0].textContent") == f"r{n - 401}"


def test_report_renders_with_claims_on_top_and_sorts_its_tables(browser, tmp_path):
    from test_report import _results

    from sua.eval.report.write import write_report

    (tmp_path / "results.json").write_text(json.dumps(_results()), encoding="utf-8")
    _, page = write_report(tmp_path)
    browser.goto(page)
    assert browser.errors == []
    assert browser.eval("document.querySelector('h2').textContent") == "Against the paper"
    column = ("[...document.querySelectorAll('table.claims tr')].slice(1)"
              ".map(tr => parseFloat(tr.cells[5].textContent))")
    click(browser, "table.claims th:nth-child(6)")  # Δ, largest first
    deltas = browser.eval(column)
    assert len(deltas) == 4 and deltas == sorted(deltas, reverse=True)
    click(browser, "table.claims th:nth-child(6)")
    assert browser.eval(column) == sorted(deltas)
    assert browser.errors == []
