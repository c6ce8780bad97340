"""The committed evidence re-derives: `sua evidence derive` on the packed units under
docs/results/evidence gives back the committed claims.json and summary.json exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sua.cli import main

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


@pytest.mark.skipif(not (RESULTS / "evidence" / "units").is_dir(), reason="no packed units committed")
def test_committed_claims_rederive_from_the_packed_units(tmp_path, data_dir) -> None:
    folder = tmp_path / "results" / "evidence"
    shutil.copytree(RESULTS / "evidence", folder)
    assert main(["evidence", "derive", str(folder)]) == 0
    for name in ("claims.json", "summary.json"):
        derived, committed = (json.loads(p.read_text()) for p in (folder.parent / name, RESULTS / name))
        assert derived == committed, name
    claims = json.loads((RESULTS / "claims.json").read_text())
    assert claims and all({"claim", "metric", "value", "ci_low", "ci_high", "verdict", "n_items", "seeds"}
                          <= set(c) for c in claims)
