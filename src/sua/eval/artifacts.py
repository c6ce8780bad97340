"""Compact per-instance artifacts of an experiment run: what every table re-derives from.

A unit's score file on one split (JSONL, every rewrite's text and parameters: megabytes) packs
into one compressed ``.npz`` of columns (kilobytes), committed under ``docs/results/``, so that
tables, intervals and figures re-derive on a clean clone with no model and a run interrupted on
one machine continues on another.

Columns (N inputs, K rewrites, C classes):

- ``ids`` (N,) str; ``correct`` (N,) int8: 1 right, 0 wrong, −1 unknown;
- ``pert_correct`` (N, K) int8, same coding, for the prediction on each rewrite;
- ``pert_family``, ``pert_kind`` (N, K) int16 codes into ``families`` / ``kinds`` (str arrays);
- classifiers: ``labels`` (C,), ``label`` (N,) int16 (the gold class, −1 when unknown or a gold
  set), ``probs`` (N, C) and ``pert_probs`` (N, K, C) float32 — p(·|x) and p(·|x'_k), from which
  S, H and every baseline (temperature scaling included) are recomputed;
- extractive QA (span distributions differ per input and are not stored): ``divergence`` (N, K),
  ``entropy``, ``max_prob``, ``f1`` (N,) float32, and ``pert_flip`` (N, K) bool: the answer on
  x'_k differs from the answer on x after SQuAD normalisation (no gold answer needed, unlike
  ``pert_correct``);
- ``agreement`` (N,) float32, the MC-dropout agreement of the modal label, when it was computed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sua.errors import SUAInputError
from sua.measures.answers import normalize_answer
from sua.outputs import write_atomic
from sua.records import Records, ScoreTable


def _tri(values: Sequence[bool | None]) -> np.ndarray:
    return np.array([-1 if v is None else int(bool(v)) for v in values], dtype=np.int8)


def _codes(rows: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    names = sorted({v for row in rows for v in row})
    index = {name: i for i, name in enumerate(names)}
    return np.array([[index[v] for v in row] for row in rows], dtype=np.int16), np.array(names)


def pack_records(records: Records, labels: Sequence[str] | None,
                 agreement: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The columns (module doc) of a unit's score records (a :class:`~sua.records.ScoreTable` or
    the records to read into one); ``labels`` for classifiers, ``None`` for extractive QA."""
    table = ScoreTable.of(records)
    perts = table.perturbations
    if len({len(p) for p in perts}) != 1:
        raise SUAInputError("records hold different numbers of rewrites")
    family, families = _codes([[p.family for p in row] for row in perts])
    kind, kinds = _codes([[p.kind for p in row] for row in perts])
    out: dict[str, np.ndarray] = {
        "ids": np.array(table.ids),
        "correct": table.correct.copy(),
        "pert_correct": np.stack([_tri([p.correct for p in row]) for row in perts]),
        "pert_family": family, "families": families, "pert_kind": kind, "kinds": kinds,
    }
    if labels is not None:
        out["labels"] = np.array(list(labels))
        index = {name: i for i, name in enumerate(labels)}
        out["label"] = np.array([index.get(label, -1) for label in table.label], dtype=np.int16)
        out["probs"] = np.array(table.probs, dtype=np.float32)
        out["pert_probs"] = np.array([[p.probs for p in row] for row in perts], dtype=np.float32)
    else:
        out["divergence"] = np.array([[p.divergence for p in row] for row in perts], dtype=np.float32)
        answers = [normalize_answer(answer or "") for answer in table.prediction]
        out["pert_flip"] = np.array([[normalize_answer(p.prediction or "") != answer for p in row]
                                     for row, answer in zip(perts, answers, strict=True)])
        for key in ("entropy", "max_prob", "f1"):
            out[key] = table.numbers[key].astype(np.float32)
    if agreement is not None:
        out["agreement"] = np.asarray(agreement, dtype=np.float32)
    return out


def write_columns(path: str | os.PathLike[str], columns: dict[str, np.ndarray]) -> Path:
    """``columns`` as a compressed ``.npz``, written to a temporary name and renamed into place."""
    return write_atomic(path, lambda fh: np.savez_compressed(fh, **columns), binary=True)


@dataclass(frozen=True)
class Columns:
    """One packed score file, read back (module doc); ``probs`` is ``None`` for QA."""

    ids: np.ndarray
    correct: np.ndarray
    pert_correct: np.ndarray
    pert_family: np.ndarray
    families: np.ndarray
    probs: np.ndarray | None
    pert_probs: np.ndarray | None
    labels: np.ndarray | None
    label: np.ndarray | None
    divergence: np.ndarray | None
    entropy: np.ndarray | None
    max_prob: np.ndarray | None
    f1: np.ndarray | None
    agreement: np.ndarray | None
    pert_flip: np.ndarray | None

    @property
    def n(self) -> int:
        return len(self.ids)

    def family_mask(self, family: str) -> np.ndarray:
        """(N, K) bool: which rewrites come from ``family``."""
        codes = np.flatnonzero(self.families == family)
        return np.isin(self.pert_family, codes)


def read_columns(path: str | os.PathLike[str]) -> Columns:
    """A packed score file (:func:`write_columns`)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as err:
        raise SUAInputError(f"cannot read the packed scores {path}: {err}") from err
    optional = ("probs", "pert_probs", "labels", "label", "divergence", "entropy", "max_prob", "f1",
                "agreement", "pert_flip")
    return Columns(ids=arrays["ids"], correct=arrays["correct"], pert_correct=arrays["pert_correct"],
                   pert_family=arrays["pert_family"], families=arrays["families"],
                   **{key: arrays.get(key) for key in optional})
