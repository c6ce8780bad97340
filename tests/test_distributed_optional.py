"""Ray stays optional: the command line and the engine's module load without importing it."""

from __future__ import annotations

import subprocess
import sys


def test_cli_and_engine_import_without_ray():
    code = ("import sys, sua.cli, sua.distributed; from sua.cli import build_parser; "
            "build_parser().parse_args(['score', '--data', 'x', '--out', 'y', '--engine', 'ray']); "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
