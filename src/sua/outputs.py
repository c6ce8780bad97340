"""Safe outputs: never over an input, whole files replaced atomically, one writer at a time.

- :func:`check_not_an_input`: an output that is one of the command's inputs is refused;
- :func:`write_atomic` (and :func:`write_text_atomic`): write a temporary file in the same
  folder and rename it into place, so a reader (or a crash) never sees half a file;
- :func:`output_lock`: an exclusive, non-blocking lock on an output (a ``.<name>.lock`` file
  beside it holding the writer's PID); a second writer fails at once naming that PID.
- :func:`guarded_output` combines the three checks every command runs before writing.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sua.errors import SUAInputError

PathLike = str | os.PathLike[str]


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_not_an_input(out: PathLike, inputs: Iterable[PathLike | None]) -> None:
    """Raise :class:`SUAInputError` if ``out`` is (or links to) one of ``inputs``."""
    out_path = Path(out)
    for source in inputs:
        if source is not None and not str(source).startswith("hf:") and _same_file(out_path, Path(source)):
            raise SUAInputError(f"the output {out_path} is also an input ({source}); writing it would "
                                "destroy the input. Choose another output path")


def lock_path_for(out: PathLike) -> Path:
    """``runs/scores.jsonl`` → ``runs/.scores.jsonl.lock``."""
    p = Path(out)
    return p.with_name(f".{p.name}.lock")


@contextmanager
def output_lock(out: PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``out`` for the duration of the block.

    The lock is ``flock`` on :func:`lock_path_for`'s file, which holds the writer's PID and is
    removed on exit; the kernel releases it if the process dies, so a killed run never leaves a
    stale lock. A second writer raises :class:`SUAInputError` at once, naming the holder's PID.
    """
    lock = lock_path_for(out)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise SUAInputError(f"{out} is being written by another process (PID {holder}, lock "
                                    f"file {lock}); wait for it to finish or choose another output") from None
            try:  # the holder may have removed the file between our open and our lock
                if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError as exc:
        raise SUAInputError(f"cannot write the output {out}: {exc.strerror or exc} "
                            f"({exc.filename or lock})") from None
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def guarded_output(out: PathLike, *inputs: PathLike | None) -> Iterator[Path]:
    """Refuse ``out`` if it is one of ``inputs``, then hold :func:`output_lock` on it."""
    check_not_an_input(out, inputs)
    with output_lock(out):
        yield Path(out)


def write_atomic(path: PathLike, write: Callable[[IO[Any]], object], *, binary: bool = False) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path`` (text UTF-8, or bytes when
    ``binary``) and rename it into place: the one atomic write of the package."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as fh:
                write(fh)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SUAInputError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    return write_atomic(path, lambda fh: fh.write(text))
