"""Where the evaluation data lives."""

from __future__ import annotations

import os
from pathlib import Path

from sua.errors import SUAInputError


def default_data_dir() -> Path:
    """The data folder: ``$SUA_DATA_DIR``, else the first ``shared/data`` found beside the
    current folder or the source checkout, walking upwards."""
    env = os.environ.get("SUA_DATA_DIR")
    if env:
        return Path(env)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data"
            if candidate.is_dir():
                return candidate
    raise SUAInputError("no data folder found: set SUA_DATA_DIR or pass --data-dir "
                        "(the folder holding nli/, topic/, qa/)")
