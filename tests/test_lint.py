"""The source stays within the project's lint rules, including the width and complexity limits
(ruff C901 at complexity 10, PLR0913 at 8 parameters: configuration objects instead of wide
signatures), and those limits really bite."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("ruff")
    command = [exe] if exe else [sys.executable, "-m", "ruff"]
    return subprocess.run([*command, "check", "--no-cache", *args], cwd=cwd, capture_output=True, text=True)


def test_src_passes_the_project_rules() -> None:
    result = _ruff("src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_width_and_complexity_limits_are_enforced(tmp_path: Path) -> None:
    wide = tmp_path / "wide.py"
    params = ", ".join(f"a{i}" for i in range(9))
    branches = "\n".join(f"    if a0 == {i}:\n        return {i}" for i in range(11))
    wide.write_text(f"def wide({params}):\n    return a0\n\n\ndef branchy(a0):\n{branches}\n    return -1\n")
    result = _ruff("--config", str(ROOT / "pyproject.toml"), "--select", "C901,PLR0913", str(wide))
    assert result.returncode == 1
    assert "PLR0913" in result.stdout and "C901" in result.stdout
