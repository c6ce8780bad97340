"""Training checkpoints: one file per saved step, written atomically, loadable without pickle."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from sua.errors import SUAInputError
from sua.outputs import write_atomic

_NAME = re.compile(r"step-(\d+)\.pt")


def rng_state() -> dict[str, Any]:
    """The torch random states (CPU and every CUDA device) that training draws from."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints(folder: str | os.PathLike[str]) -> list[Path]:
    """The checkpoint files in ``folder``, oldest step first."""
    found = [(int(m.group(1)), p) for p in Path(folder).glob("step-*.pt")
             if (m := _NAME.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(folder: str | os.PathLike[str], step: int, state: dict[str, Any],
                    keep: int) -> Path:
    """Write ``state`` as ``folder/step-<step>.pt`` and delete all but the ``keep`` latest.

    The file is written under a temporary name and renamed, so an interruption never leaves
    a truncated checkpoint behind.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    path = write_atomic(out / f"step-{step:07d}.pt", lambda fh: torch.save(state, fh), binary=True)
    for old in checkpoints(out)[:-keep]:
        old.unlink()
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain data only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as err:
        raise SUAInputError(f"cannot read training checkpoint {path}: {err}") from err
