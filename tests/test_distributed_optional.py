"""Ray stays optional: the command line and the engine's module load without importing it."""

from __future__ import annotations

import subprocess
import sys


def test_cli_and_engine_import_without_ray():
    code = ("import sys, sua.cli, sua.distributed; from sua.cli import build_parser; "
            "build_parser().parse_args(['score', '--data', 'x', '--out', 'y', '--engine', 'ray']); "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ray_that_does_not_start_is_one_error_line(monkeypatch):
    import pytest

    ray = pytest.importorskip("ray")
    from sua.distributed.runtime import connect
    from sua.errors import SUAInputError

    def stuck(**_):
        raise Exception("Timed out waiting for file /tmp/ray/session_latest/ports.json\ntraceback follows")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", stuck)
    with pytest.raises(SUAInputError, match=r"^could not start a local Ray instance: Timed out waiting for "
                                            r"file /tmp/ray/session_latest/ports.json \(a busy machine"):
        connect()
