"""Screenshots of the explorer and of the report's first screen, made by headless Chromium.

Run: ``PYTHONPATH=src python scripts/screenshots.py SCORES.jsonl [--decisions FILE]
[--report docs/results/full/report.html] [--out docs]``

Writes ``OUT/explorer.png`` (the page over SCORES with its first row open, table sorted by S)
and ``OUT/report.png`` (the first screen of the report), both 1400 × 900 CSS pixels. The
explorer page itself goes to a temporary folder; nothing else is written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chromium import Chromium  # noqa: E402

from sua.eval.explorer import write_explorer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scores")
    parser.add_argument("--decisions", help="sua abstain apply output shown in the explorer")
    parser.add_argument("--report", default="docs/results/full/report.html")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp, Chromium(width=1400, height=900) as browser:
        browser.goto(write_explorer(args.scores, Path(tmp) / "explorer.html", decisions=args.decisions))
        browser.eval("document.querySelector('#head th[data-key=\"S\"]').click();"
                     "document.querySelector('#body tr.row').click()")
        browser.screenshot(out / "explorer.png")
        browser.goto(args.report)
        browser.screenshot(out / "report.png")
        if browser.errors:
            raise SystemExit(f"script errors: {browser.errors}")
    print(f"wrote {out / 'explorer.png'} and {out / 'report.png'}")


if __name__ == "__main__":
    main()
