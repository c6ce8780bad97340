"""Score predictions a user already has: no model call, the same records as a model run.

A prediction record holds, for one input x, the distribution on x and on each rewrite x'_k
from any model or API::

    {"id": "x1", "label": "pos", "probs": [0.9, 0.1],
     "perturbations": [{"text": "...", "kind": "typo", "probs": [0.7, 0.3]}, ...]}

(with ``logits=True`` the ``probs`` fields hold logits and get ``softmax``). A line of
``sua perturb``'s output with ``probs`` added at both levels is one, and so is a line of
``sua score``'s own output: scoring it again gives the same record. From these
distributions :class:`PrecomputedScorer` derives every field exactly as
:class:`~sua.scoring.SUAScorer` does, with the same code:

    Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)),    H(x) = −Σ_y p(y|x) log p(y|x),    SUA = Ŝ − λ·H,

the signature, the ambiguity proxy and the baselines (max-prob, normalised confidence).
"""

from __future__ import annotations

import itertools
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput
from sua.io import JsonlAppender, read_records
from sua.manifest import meta_path_for, versions, write_manifest
from sua.measures import check_probabilities
from sua.models._checks import validate_labels
from sua.perturb.base import Perturbation
from sua.records import ScoreRecord
from sua.scoring.config import ScoringConfig
from sua.scoring.scorer import SUAScorer

#: ``kind`` and ``family`` of a rewrite whose prediction record does not say how it was made.
UNKNOWN_KIND = "precomputed"


class StoredLabels:
    """The label space of precomputed distributions: a model with nothing to call."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = validate_labels(labels)

    def __repr__(self) -> str:
        return f"StoredLabels({self.labels})"

    def predict_proba(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        raise SUAInputError("precomputed predictions have no model to call")


class _NoRewrites:
    """The perturber of a precomputed run: the rewrites come with the predictions."""

    def __repr__(self) -> str:
        return "precomputed"

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]:
        raise SUAInputError("precomputed predictions bring their own rewrites")


def softmax(z: np.ndarray) -> np.ndarray:
    """``softmax(z)_c = exp(z_c − max z) / Σ_c' exp(z_c' − max z)`` along the last axis, float64."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class PrecomputedScorer(SUAScorer):
    """Records from stored distributions over ``labels`` (module doc), ``chunk_size`` inputs at a
    time; inputs with the same number K of rewrites are measured together. ``settings`` are
    the :class:`~sua.scoring.config.ScoringConfig` fields that apply to stored rewrites:
    ``divergence``, ``lam`` and ``thresholds``; ``label_field`` and ``id_field`` name the
    prediction records' fields.

    >>> scorer = PrecomputedScorer(["neg", "pos"])
    >>> rec = next(scorer.score_predictions([{"id": "a", "probs": [0.5, 0.5],
    ...                                       "perturbations": [{"probs": [0.5, 0.5]}]}]))
    >>> rec.sensitivity, round(rec.entropy, 4)
    (0.0, 0.6931)
    """

    def __init__(self, labels: Sequence[str], *, logits: bool = False, chunk_size: int = 512,
                 label_field: str = "label", id_field: str = "id", **settings: Any) -> None:
        super().__init__(StoredLabels(labels), _NoRewrites(), ScoringConfig(k=1), chunk_size=chunk_size,
                         **settings)
        self.logits = bool(logits)
        self.label_field = label_field
        self.id_field = id_field

    def config(self) -> dict[str, Any]:
        return {"source": "precomputed", "logits": self.logits, "divergence": self.settings.divergence,
                "lam": self.settings.lam, "labels": list(self.model.labels),
                "thresholds": self.settings.thresholds}

    def _distribution(self, values: Any, where: str) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (len(self.model.labels),):
            raise SUAInputError(f"{where}: expected {len(self.model.labels)} values (one per label "
                                f"{self.model.labels}), got shape {arr.shape}")
        if self.logits:
            return softmax(arr)
        try:
            check_probabilities(arr, name=where)
        except SUAInputError as exc:
            raise SUAInputError(f"{exc}; if these are logits, pass logits=True (CLI: --logits)") from None
        return arr

    def _parse(self, n: int, record: Mapping[str, Any]) -> tuple[Example, list[Perturbation], np.ndarray]:
        ex_id = str(record.get(self.id_field, f"line-{n}"))
        where = f"prediction {ex_id!r}"
        if "probs" not in record:
            raise SUAInputError(f"{where}: no 'probs' field (the distribution, or logits, on x)")
        perts = record.get("perturbations")
        if not isinstance(perts, list) or not perts:
            raise SUAInputError(f"{where}: 'perturbations' must be a non-empty list of "
                                "{'probs': [...], 'text': ...} (one per rewrite)")
        label = record.get(self.label_field)
        label = None if label is None else str(label)
        if label is not None and label not in self.model.labels:
            raise SUAInputError(f"{where}: label {label!r} is not one of the labels {self.model.labels}")
        rows = [self._distribution(record["probs"], where)]
        draws = []
        for k, pert in enumerate(perts):
            if not isinstance(pert, Mapping) or "probs" not in pert:
                raise SUAInputError(f"{where}: rewrite {k} has no 'probs' field")
            rows.append(self._distribution(pert["probs"], f"{where}, rewrite {k}"))
            draws.append(Perturbation(text=str(pert.get("text", "")), kind=pert.get("kind", UNKNOWN_KIND),
                                      family=pert.get("family", UNKNOWN_KIND),
                                      params=dict(pert.get("params") or {})))
        example = Example(id=ex_id, text=str(record.get("text") or ex_id), label=label)
        return example, draws, np.stack(rows)

    def _records_for(self, parsed: Sequence[tuple[Example, list[Perturbation], np.ndarray]]
                     ) -> list[ScoreRecord]:
        examples = [ex for ex, _, _ in parsed]
        probs = np.stack([p for _, _, p in parsed])  # (N, 1 + K, C)
        names = self.model.labels
        predictions = [[names[int(j)] for j in row] for row in probs.argmax(-1)]
        correct = [[None if ex.label is None else ex.label == name for name in row]
                   for ex, row in zip(examples, predictions, strict=True)]
        return self._records(examples, [d for _, d, _ in parsed], probs[:, 0], probs[:, 1:], predictions,
                             correct, [ex.label for ex in examples])

    def score_predictions(self, predictions: Iterable[Mapping[str, Any]]) -> Iterator[ScoreRecord]:
        """Stream one :class:`~sua.scoring.ScoreRecord` per prediction record, in order."""
        it = enumerate(predictions, start=1)
        while chunk := list(itertools.islice(it, self.chunk_size)):
            parsed = [self._parse(n, record) for n, record in chunk]
            by_k: dict[int, list[int]] = defaultdict(list)  # the measures need one K per call
            for i, (_, draws, _) in enumerate(parsed):
                by_k[len(draws)].append(i)
            records: list[ScoreRecord | None] = [None] * len(parsed)
            for rows in by_k.values():
                for i, record in zip(rows, self._records_for([parsed[i] for i in rows]), strict=True):
                    records[i] = record
            yield from records  # type: ignore[misc]


def run_labels(path: str | os.PathLike[str]) -> list[str] | None:
    """The model's labels recorded beside a ``sua score`` output (its ``.meta.json``), if any."""
    meta = meta_path_for(path)
    if not meta.is_file():
        return None
    labels = json.loads(meta.read_text(encoding="utf-8")).get("config", {}).get("labels")
    return list(labels) if labels else None


def score_predictions_file(predictions: str | os.PathLike[str], out: str | os.PathLike[str], *,
                           labels: Sequence[str] | None = None, overwrite: bool = False,
                           **options: Any) -> Path:
    """``sua score --from-predictions``: score a JSONL/CSV/Parquet file of prediction records
    (module doc) into ``out`` (JSONL) with its ``.meta.json``; no model is called.

    ``labels`` name the distribution's columns; by default those recorded beside
    ``predictions`` when it is a ``sua score`` output. An existing ``out`` is refused unless
    ``overwrite``; ``out`` may never be the input. ``options`` go to :class:`PrecomputedScorer`
    (``logits``, ``divergence``, ``lam``, ``thresholds``, ``label_field``, ``id_field``).
    """
    src, out_path = Path(predictions), Path(out)
    if not src.is_file():
        raise SUAInputError(f"predictions file not found: {src}")
    if out_path.resolve() == src.resolve():
        raise SUAInputError(f"--out {out_path} is the predictions file itself; choose another --out")
    labels = list(labels) if labels else run_labels(src)
    if labels is None:
        raise SUAInputError("name the label of each probability column: labels=[...] (CLI: --labels a,b,c)")
    if out_path.exists() and not overwrite:
        raise SUAInputError(f"{out_path} exists; pass --overwrite or choose another --out")
    scorer = PrecomputedScorer(labels, **options)
    tmp = out_path.with_name(out_path.name + ".partial")
    tmp.unlink(missing_ok=True)
    with JsonlAppender(tmp) as sink:
        for record in scorer.score_predictions(record for _, record in read_records(src)):
            sink.write(record.to_dict())
    os.replace(tmp, out_path)
    config = {**scorer.config(), "data": str(src)}
    write_manifest(meta_path_for(out_path), {"config": config, "versions": versions()})
    return out_path


def score_predictions(predictions: Iterable[Mapping[str, Any]], labels: Sequence[str],
                      **options: Any) -> list[ScoreRecord]:
    """The Python twin of ``sua score --from-predictions``: one record per prediction record
    (module doc), from any model's or API's outputs, without a model call. ``options`` go to
    :class:`PrecomputedScorer` (``logits``, ``divergence``, ``lam``, ``thresholds``,
    ``label_field``, ``id_field``, ``chunk_size``)."""
    scorer = PrecomputedScorer(labels, **options)
    return list(scorer.score_predictions(predictions))
