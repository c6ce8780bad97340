"""The run manifest: what every command writes beside its results so that a run can be
checked, resumed and reproduced — its config, the software versions and (inside the config)
seed, data and model identity.

One convention for where it lives: a file's manifest is ``<stem>.meta.json`` beside it
(:func:`meta_path_for`; ``sua score``, ``sua perturb``, ``sua abstain apply``), a folder's is a
JSON file inside it (``config.json`` of ``sua train``, ``profile.json`` of an experiment run).
``sua perturb`` outputs written before it followed this convention have ``<out>.config.json``;
they still resume from it (:func:`sua.perturb.files.legacy_manifest_path`). Every manifest is written
atomically (:func:`write_manifest`), and a rerun whose settings differ from the recorded ones
is refused by :func:`require_same_config`, naming each setting that differs.

>>> require_same_config({"k": 8, "seed": 0}, {"k": 8, "seed": 0}, "s.jsonl", "use another --out")
>>> require_same_config({"k": 8}, {"k": 4}, "s.jsonl was written with another config", "use another --out")
Traceback (most recent call last):
...
sua.errors.SUAInputError: s.jsonl was written with another config (differs in: k); use another --out
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import sua
from sua.errors import SUAInputError
from sua.outputs import write_text_atomic

__all__ = ["meta_path_for", "require_same_config", "versions", "write_manifest"]


def meta_path_for(out: str | os.PathLike[str]) -> Path:
    """``scores.jsonl`` → ``scores.meta.json`` (config, versions, seed of the run)."""
    p = Path(out)
    return p.with_name(p.stem + ".meta.json")


def versions() -> dict[str, str]:
    """Versions of the software that produced a result."""
    import numpy as np
    import torch
    import transformers

    return {"sua": sua.__version__, "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__}


def require_same_config(previous: Mapping[str, Any], current: Mapping[str, Any], what: str,
                        advice: str, keys: Collection[str] | None = None) -> None:
    """Refuse to resume a run whose recorded settings differ from ``current``.

    Compares ``keys`` (default: every key of either) and raises :class:`SUAInputError`
    ``"<what> (differs in: <keys>); <advice>"`` when one differs.
    """
    names = set(previous) | set(current) if keys is None else keys
    changed = sorted(k for k in names if previous.get(k) != current.get(k))
    if changed:
        raise SUAInputError(f"{what} (differs in: {', '.join(changed)}); {advice}")


def write_manifest(path: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest`` as indented strict JSON (no NaN), atomically."""
    return write_text_atomic(path, json.dumps(manifest, indent=2, allow_nan=False) + "\n")
