"""Shared fixtures: offline mode, the real data folder, small real inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# torch's OpenMP threads spin-wait by default, which stalls badly on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from sua.eval.data import default_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return default_data_dir()


@pytest.fixture(scope="session")
def snli_dev(data_dir: Path) -> Path:
    return data_dir / "nli" / "snli" / "dev.jsonl"
