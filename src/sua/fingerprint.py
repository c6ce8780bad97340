"""Model identity for resume checks: a content hash of a local model's files, not its path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_fingerprint(source: str | os.PathLike[str] | None) -> str | None:
    """``sha256`` over ``(name, size, sha256)`` of every file of a local model folder (its top
    level: config, weights, tokenizer), or of a single model file; ``None`` for a hub name or
    ``None``. Two runs at the same path with changed weights get different fingerprints.
    """
    if source is None:
        return None
    p = Path(source).expanduser()
    if p.is_file():
        files = [p]
    elif p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
    else:
        return None
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}\0{f.stat().st_size}\0{file_sha256(f)}\n".encode())
    return digest.hexdigest()
