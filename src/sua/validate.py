"""Validation at the door: every file a command reads and every argument it takes is checked
here, before any model is loaded or any output written. Each problem is one
:class:`~sua.errors.SUAInputError` naming the file (line, byte offset), the field and the value.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.io import is_hub_source, read_records

# -- arguments ------------------------------------------------------------------------------

#: Command-line options and what each must be: (kind, lower bound, lower bound included).
#: A value of None (option not given) is always accepted.
_ARG_RULES: dict[str, tuple[type, float, bool]] = {
    "k": (int, 1, True), "m": (int, 1, True), "batch_size": (int, 1, True),
    "chunk_size": (int, 1, True), "max_length": (int, 1, True), "limit": (int, 0, True),
    "max_concurrency": (int, 1, True), "max_new_tokens": (int, 1, True), "max_edits": (int, 1, True),
    "budget": (int, 1, True), "max_swaps": (int, 1, True), "k_train": (int, 1, True),
    "save_every": (int, 1, True), "eval_every": (int, 1, True), "seeds": (int, 1, True),
    "train_size": (int, 1, True), "eval_size": (int, 1, True), "adv_steps": (int, 1, True),
    "lam": (float, 0, True), "alpha": (float, 0, True), "beta": (float, 0, True),
    "lr": (float, 0, False), "epochs": (float, 0, False), "temperature": (float, 0, True),
    "top_p": (float, 0, False), "adv_epsilon": (float, 0, False), "delta": (float, 0, False),
    "target_coverage": (float, 0, False), "target_risk": (float, 0, False),
}


def check_args(args: argparse.Namespace) -> None:
    """Refuse out-of-range or non-finite option values (``--lam nan``, ``--batch-size 0``,
    ``--limit -1``) before a command does anything. ``--lam select`` is left to its command."""
    for name, (kind, low, inclusive) in _ARG_RULES.items():
        value = getattr(args, name, None)
        if value is None or isinstance(value, str):
            continue
        option = "--" + name.replace("_", "-")
        if kind is float and not math.isfinite(value):
            raise SUAInputError(f"{option} must be a finite number, got {value}")
        if value < low or (value == low and not inclusive):
            bound = f">= {low}" if inclusive else f"> {low}"
            raise SUAInputError(f"{option} must be {bound}, got {value}")


# -- JSON files -------------------------------------------------------------------------------


def read_json_object(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The JSON object in ``path`` (``what`` names it in messages: "policy", "run metadata"...).

    Missing file, non-UTF-8 bytes (with their byte offset), invalid JSON, NaN/Infinity and a
    top-level value that is not an object are each one :class:`SUAInputError`.
    """
    p = Path(path)
    if not p.is_file():
        raise SUAInputError(f"{what} file not found: {p}")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SUAInputError(f"{p}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at byte offset "
                            f"{exc.start}); this {what} file is damaged") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise SUAInputError(f"{p}:{exc.lineno}: not valid JSON ({exc.msg}); this {what} file is "
                            "damaged: remove it or write it again") from None
    except ValueError as exc:
        raise SUAInputError(f"{p}: {exc}; this {what} file is damaged") from None
    if not isinstance(data, dict):
        raise SUAInputError(f"{p}: a {what} file holds a JSON object, got {type(data).__name__}")
    return data


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def finite_number(value: Any, where: str) -> float:
    """``value`` as a float if it is a finite JSON number (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SUAInputError(f"{where} must be a finite number, got {value!r}")
    return float(value)


# -- data files -------------------------------------------------------------------------------


def check_data(source: str | os.PathLike[str], *, id_field: str = "id", limit: int | None = None,
               allow_empty: bool = False) -> set[str]:
    """Read ``source`` (JSONL or ``hf:`` source) once before any model call; return the ids of
    its records (up to ``limit``).

    Refused: a line that is not UTF-8 JSON (:func:`sua.io.read_jsonl` names line and byte
    offset), a null id, duplicate ids (the first few are listed), and no records at all unless
    ``allow_empty``. A record without ``id_field`` gets the id ``line-<n>``, as when scoring.
    """
    if not is_hub_source(source) and not Path(source).is_file():
        raise SUAInputError(f"data file not found: {source}")
    counts: Counter[str] = Counter()
    nulls: list[int] = []
    n = 0
    for lineno, record in read_records(source):
        if limit is not None and n >= limit:
            break
        n += 1
        if id_field in record and record[id_field] is None:
            nulls.append(lineno)
        counts[str(record.get(id_field, f"line-{lineno}"))] += 1
    if nulls:
        raise SUAInputError(f"{source}: {len(nulls)} record(s) have {id_field} = null (lines "
                            f"{', '.join(map(str, nulls[:5]))}); every input needs its own id")
    duplicates = [i for i, c in counts.items() if c > 1]
    if duplicates:
        listed = ", ".join(f"{i!r} ({counts[i]}x)" for i in duplicates[:5])
        raise SUAInputError(f"{source}: {len(duplicates)} duplicate {id_field}(s), e.g. {listed}; ids "
                            "must be unique (resuming matches records by id)")
    if n == 0 and not allow_empty:
        raise SUAInputError(f"{source} has no records{' (--limit 0)' if limit == 0 else ''}; pass "
                            "a file with at least one input")
    return set(counts)


# -- policies ---------------------------------------------------------------------------------

_POLICY_KEYS = {"format", "version", "params", "lam", "thresholds", "fit_report"}
_POLICY_AXES = {"sua", "entropy"}


def check_policy(data: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """A saved abstention policy's dict, checked: no unknown keys, ``lam`` a finite number >= 0,
    ``thresholds`` a non-empty map from known axes (``sua``, ``entropy``) to finite numbers or
    null (abstain on everything), ``params`` an object."""
    unknown = sorted(set(data) - _POLICY_KEYS)
    if unknown:
        raise SUAInputError(f"{path}: unknown policy keys {unknown}; known: {sorted(_POLICY_KEYS)}")
    lam = finite_number(data.get("lam"), f"{path}: lam")
    if lam < 0:
        raise SUAInputError(f"{path}: lam must be >= 0 (SUA = S - lam * H), got {lam}")
    thresholds = data.get("thresholds")
    if not isinstance(thresholds, dict) or not thresholds:
        raise SUAInputError(f"{path}: thresholds must be a non-empty object like {{\"sua\": 0.1}}")
    for axis, value in thresholds.items():
        if axis not in _POLICY_AXES:
            raise SUAInputError(f"{path}: unknown threshold axis {axis!r}; known: {sorted(_POLICY_AXES)}")
        if value is not None:
            finite_number(value, f"{path}: thresholds.{axis}")
    if not isinstance(data.get("params"), dict):
        raise SUAInputError(f"{path}: params must be an object")
    if not isinstance(data.get("fit_report"), dict):
        raise SUAInputError(f"{path}: fit_report must be an object")
    return data


#: Settings of a scores run that a policy fitted on it depends on.
POLICY_SCORE_SETTINGS = ("divergence", "k", "perturber")


def check_policy_matches_scores(fit_report: Mapping[str, Any], scores_config: Mapping[str, Any],
                                path: str | os.PathLike[str]) -> None:
    """Refuse applying a policy to scores computed with another divergence, K or perturber
    than the scores it was fitted on (its ``fit_report["scores_config"]``; when both runs
    recorded the setting)."""
    fitted_on = fit_report.get("scores_config") or {}
    for name in POLICY_SCORE_SETTINGS:
        if name in fitted_on and name in scores_config and fitted_on[name] != scores_config[name]:
            raise SUAInputError(f"{path} was fitted on scores with {name} = {fitted_on[name]!r}, but "
                                f"these scores have {name} = {scores_config[name]!r}; fit a policy "
                                "on scores of the same kind")
