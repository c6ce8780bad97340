"""Outputs: never over an input, one writer at a time (the second fails at once naming the
holder's PID), whole files replaced atomically, a killed writer leaves no stale lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sua.cli import main
from sua.errors import SUAInputError
from sua.outputs import check_not_an_input, lock_path_for, output_lock, write_text_atomic

BAD = Path(__file__).parent / "fixtures" / "bad"
SRC = str(Path(__file__).parents[1] / "src")


def error_line(argv, capsys) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], lines
    return lines[0]


@pytest.fixture()
def work(tmp_path) -> Path:
    for name in ("data_good.jsonl", "scores_good.jsonl", "scores_good.meta.json", "policy_good.json"):
        (tmp_path / name).write_bytes((BAD / name).read_bytes())
    return tmp_path


@pytest.mark.parametrize(("argv", "victims"), [
    (["abstain", "apply", "--policy", "policy_good.json", "--scores", "scores_good.jsonl",
      "--out", "scores_good.jsonl"], ["scores_good.jsonl", "scores_good.meta.json"]),
    (["abstain", "apply", "--policy", "policy_good.json", "--scores", "scores_good.jsonl",
      "--out", "policy_good.json"], ["policy_good.json"]),
    (["abstain", "fit", "--scores", "scores_good.jsonl", "--target-coverage", "0.8",
      "--out", "scores_good.meta.json"], ["scores_good.meta.json"]),
    (["perturb", "--data", "data_good.jsonl", "--out", "data_good.jsonl", "--family", "token", "--quiet"],
     ["data_good.jsonl"]),
    (["perturb", "--data", "data_good.jsonl", "--out", "./sub/../data_good.jsonl", "--family", "token",
      "--quiet"], ["data_good.jsonl"]),
    (["score", "--model", "no-model", "--data", "data_good.jsonl", "--out", "data_good.jsonl"],
     ["data_good.jsonl"]),
])
def test_an_output_that_is_an_input_is_refused(argv, victims, work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    (work / "sub").mkdir()
    before = {v: (work / v).read_bytes() for v in victims}
    assert "is also an input" in error_line(argv, capsys)
    assert {v: (work / v).read_bytes() for v in victims} == before


def test_a_hard_link_to_the_input_is_the_input(work):
    os.link(work / "data_good.jsonl", work / "alias.jsonl")
    with pytest.raises(SUAInputError, match="is also an input"):
        check_not_an_input(work / "alias.jsonl", [work / "data_good.jsonl"])
    check_not_an_input(work / "other.jsonl", [work / "data_good.jsonl", None, "hf:snli:test"])


def _hold_lock(path: Path) -> subprocess.Popen:
    """Another process holding the output lock on ``path`` until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {SRC!r})
        from sua.outputs import output_lock
        with output_lock({str(path)!r}):
            print("locked", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_fails_at_once_naming_the_holder(work, capsys):
    out = work / "p.jsonl"
    args = ["perturb", "--data", work / "data_good.jsonl", "--out", out, "--family", "token", "--k", "2",
            "--no-cache", "--quiet"]
    assert main([str(a) for a in args]) == 0
    finished = out.read_bytes()
    holder = _hold_lock(out)
    try:
        line = error_line(args, capsys)
        assert f"PID {holder.pid}" in line and "another process" in line
        # another command aiming at the same output is refused the same way
        line = error_line(["abstain", "apply", "--policy", work / "policy_good.json",
                           "--scores", work / "scores_good.jsonl", "--out", out], capsys)
        assert f"PID {holder.pid}" in line
        assert out.read_bytes() == finished  # the file the holder owns is untouched and valid
        assert all(json.loads(line) for line in out.read_text().splitlines())
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel dropped the killed holder's lock: the next writer proceeds and the rerun is a no-op
    assert main([str(a) for a in args]) == 0
    assert out.read_bytes() == finished
    assert not lock_path_for(out).exists()


def test_lock_in_one_process_blocks_a_second_acquisition(tmp_path):
    out = tmp_path / "x.jsonl"
    with output_lock(out) as lock:
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(SUAInputError, match=f"PID {os.getpid()}"):
            with output_lock(out):
                pass
    assert not lock.exists()
    with output_lock(out):  # free again
        pass


def test_write_text_atomic_replaces_whole_files_only(tmp_path, monkeypatch):
    target = tmp_path / "policy.json"
    write_text_atomic(target, "old")

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(SUAInputError, match="No space left"):
        write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["policy.json"]  # no temporary file left behind
