"""The one score record every scorer writes (one JSONL line per input), and the one reader that
turns records back into columns.

:class:`ScoreRecord` serves the classifier, extractive QA and generative scorers alike; a field a
kind of scorer does not have is ``None`` (``confidence`` for generated answers; ``samples``,
``clusters``, ``gold``, ``f1``, ``exact_match``, ``mean_token_entropy``, ``n_generations`` for
classifiers) and is then left out of the line (:data:`KIND_FIELDS`). A rewrite is a
:class:`PerturbationResult` in every case; a generated rewrite has its ``samples`` and no graded
answer (``prediction`` and ``correct`` null).

:class:`ScoreTable` is how records are read back, once: :func:`read_scores` (a JSONL file) and
:meth:`ScoreTable.from_records` (``ScoreRecord`` objects or their dicts) check every field and
build the columns summary, metrics, the selective objects, the explorer and the evidence packer
work on. Files written before the record was shared still read: a generative line's ``answer``
is its ``prediction``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.io import read_jsonl


@dataclass(kw_only=True)
class PerturbationResult:
    """One scored perturbation x'_k: the rewrite, how it was made, and what it did.

    ``probs`` is p(·|x'_k), kept so that every later estimator (other divergences, risk
    bounds, robust accuracy) is derived from the cached outputs without a model pass.
    ``correct`` says whether ``prediction`` (the model's answer on x'_k) is right, when the
    gold answer is known (classification: equals the label; extractive QA: exact match).
    A generated rewrite has its M sampled answers in ``samples`` and no ``prediction``.
    """

    text: str
    kind: str
    family: str
    params: dict[str, Any]
    divergence: float
    prediction: str | None = None
    probs: list[float]
    correct: bool | None = None
    samples: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this rewrite; ``samples`` only when there are some."""
        out = asdict(self)
        if out["samples"] is None:
            del out["samples"]
        return out


#: Fields a kind of scorer may lack: a record leaves them out of its line when they are ``None``.
KIND_FIELDS = ("confidence", "samples", "clusters", "gold", "f1", "exact_match", "mean_token_entropy",
               "n_generations", "answer_token_logprobs", "answer_token_entropies", "sample_token_logprobs",
               "split", "role", "gold_labels")


@dataclass(kw_only=True)
class ScoreRecord:
    """Everything a scorer knows about one input x.

    ``sensitivity`` is Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)); ``sensitivity_worst`` the
    worst of the K; ``sua`` = Ŝ(x) − λ·H(x). The baseline failure scores (entropy,
    max-probability, normalised confidence) sit beside them, derived from the same cached
    predictions, so methods are compared on identical model outputs. ``extra`` holds a
    task's own small additions (extractive QA: ``f1``, ``em`` and the candidate span texts).

    Generated answers (:mod:`sua.scoring.generative`): ``prediction`` is the greedy answer,
    ``samples`` the M sampled ones, ``clusters`` a representative answer per meaning cluster
    (the outcomes of ``probs``), ``gold`` the gold answers, ``f1`` / ``exact_match`` the greedy
    answer's scores against them, ``mean_token_entropy`` its mean token entropy and
    ``n_generations`` the model calls made for the input. Token level, so that sequence scores
    (LM-Polygraph's, :mod:`sua.eval.polygraph`) come from the cache without a second generation
    pass: ``answer_token_logprobs`` and ``answer_token_entropies`` of the greedy answer,
    ``sample_token_logprobs`` of each of x's samples (:class:`~sua.models.generation.Generation`
    for the conventions; empty where the backend returns none).

    The experiment runner (:mod:`sua.eval.runner`) adds where the input comes from: its
    ``split`` and the split's ``role``, and ``gold_labels`` (QA: the gold answer texts; a
    multi-label split: the labels any of which is correct).
    """

    id: str
    prediction: str
    probs: list[float]
    entropy: float
    max_prob: float
    confidence: float | None = None
    sensitivity: float
    sensitivity_worst: float
    sua: float
    ambiguity: float
    signature: str
    label: str | None = None
    correct: bool | None = None
    perturbations: list[PerturbationResult] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    samples: list[str] | None = None
    clusters: list[str] | None = None
    gold: list[str] | None = None
    f1: float | None = None
    exact_match: bool | None = None
    mean_token_entropy: float | None = None
    n_generations: int | None = None
    answer_token_logprobs: list[float] | None = None
    answer_token_entropies: list[float] | None = None
    sample_token_logprobs: list[list[float]] | None = None
    split: str | None = None
    role: str | None = None
    gold_labels: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSONL line of this record: every field, but those of :data:`KIND_FIELDS` only when
        set (a classifier's line is what it has always been)."""
        out = asdict(self)
        out["perturbations"] = [p.to_dict() for p in self.perturbations]
        for name in KIND_FIELDS:
            if out[name] is None:
                del out[name]
        return out


#: Numeric fields of a score record: when present (and not null) they must be finite numbers.
NUMBER_FIELDS = ("entropy", "max_prob", "confidence", "sensitivity", "sensitivity_worst", "sua",
                 "ambiguity", "mean_token_entropy")


@dataclass(frozen=True, eq=False)
class ScoreTable:
    """N score records as columns, every field checked once (module doc).

    ``numbers[name]`` is the (N,) float64 column of each field of :data:`NUMBER_FIELDS` and of
    ``f1`` (a generative record's ``f1``, an extractive QA record's ``extra["f1"]``), NaN where a
    record lacks it; :meth:`column` refuses a column with a gap. ``correct`` is (N,) int8: 1
    right, 0 wrong, −1 unknown. ``probs`` holds p(·|x) per record (its length differs between
    records for spans and meaning clusters); ``perturbations`` the rewrites of each.
    """

    ids: tuple[str, ...]
    label: tuple[str | None, ...]
    prediction: tuple[str | None, ...]
    gold: tuple[tuple[str, ...] | None, ...]
    signature: tuple[str | None, ...]
    correct: np.ndarray
    numbers: Mapping[str, np.ndarray]
    probs: tuple[tuple[float, ...], ...]
    perturbations: tuple[tuple[PerturbationResult, ...], ...]
    extra: tuple[Mapping[str, Any], ...]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_records(cls, records: Iterable[ScoreRecord | Mapping[str, Any]],
                     source: str | os.PathLike[str] = "records") -> ScoreTable:
        """The table of ``records`` (``ScoreRecord`` objects or their dicts), each checked:
        ``correct`` true, false or null (a string "false" would count as right); ``label``,
        ``prediction`` and ``signature`` strings or null; the numeric fields finite numbers;
        ``probs`` a list of finite numbers; ``perturbations`` a list. The first bad record is one
        :class:`SUAInputError` naming ``source`` and the record. No records is an error too."""
        rows = [_checked(r.to_dict() if isinstance(r, ScoreRecord) else r, i, source)
                for i, r in enumerate(records)]
        if not rows:
            raise SUAInputError(f"{source}: no records; pass at least one score record")
        numbers = {name: np.array([_nan(r.get(name)) for r in rows], dtype=np.float64)
                   for name in NUMBER_FIELDS}
        numbers["f1"] = np.array([_nan(r.get("f1", (r.get("extra") or {}).get("f1"))) for r in rows],
                                 dtype=np.float64)
        return cls(
            ids=tuple(str(r.get("id", i)) for i, r in enumerate(rows)),
            label=tuple(r.get("label") for r in rows),
            prediction=tuple(r.get("prediction", r.get("answer")) for r in rows),
            gold=tuple(None if r.get("gold") is None else tuple(r["gold"]) for r in rows),
            signature=tuple(r.get("signature") for r in rows),
            correct=np.array([-1 if r.get("correct") is None else int(r["correct"]) for r in rows],
                             dtype=np.int8),
            numbers=numbers,
            probs=tuple(tuple(r.get("probs") or ()) for r in rows),
            perturbations=tuple(tuple(_perturbation(p) for p in r.get("perturbations") or ())
                                for r in rows),
            extra=tuple(dict(r.get("extra") or {}) for r in rows))

    @classmethod
    def of(cls, records: Records) -> ScoreTable:
        """``records`` as a table: a table as it is, anything else through :meth:`from_records`."""
        return records if isinstance(records, ScoreTable) else cls.from_records(records)

    def require(self, fields: Iterable[str], reader: str) -> None:
        """Refuse records lacking any of ``fields`` (numeric fields or ``signature``), naming the
        first such record and what it lacks; ``reader`` says what reads them."""
        gaps = {name: np.array([v is None for v in self.signature]) if name == "signature"
                else np.isnan(self.numbers[name]) for name in fields}
        first = min((int(np.argmax(gap)) for gap in gaps.values() if gap.any()), default=None)
        if first is not None:
            missing = ", ".join(name for name, gap in gaps.items() if gap[first])
            raise SUAInputError(f"record {self.ids[first]!r} is not a score record (missing {missing}); "
                                f"{reader}")

    def column(self, name: str) -> np.ndarray:
        """The (N,) float64 column ``name``; a record without the field is an error naming it."""
        if name not in self.numbers:
            raise SUAInputError(f"{name!r} is not a numeric field of a score record "
                                f"(known: {', '.join(self.numbers)})")
        values = self.numbers[name]
        gaps = np.flatnonzero(np.isnan(values))
        if gaps.size:
            raise SUAInputError(f"record {self.ids[gaps[0]]!r} has no field {name!r}; pass score "
                                "records written by `sua score`")
        return values

    def labelled(self) -> np.ndarray:
        """(N,) bool: which records have a known ``correct``."""
        return self.correct >= 0

    def right(self, purpose: str) -> np.ndarray:
        """(N,) bool ``correct``; an unlabelled record is an error (``purpose`` says what needs it)."""
        missing = np.flatnonzero(self.correct < 0)
        if missing.size:
            raise SUAInputError(f"{purpose} needs gold labels, but {missing.size} of {len(self)} "
                                f"records have correct = null (first: {self.ids[missing[0]]!r}); "
                                "score labelled data")
        return self.correct == 1

    def subset(self, keep: np.ndarray) -> ScoreTable:
        """The records where ``keep`` (an (N,) bool mask) is true, in order."""
        rows = np.flatnonzero(keep)

        def pick(values: Sequence[Any]) -> tuple[Any, ...]:
            return tuple(values[i] for i in rows)

        return ScoreTable(ids=pick(self.ids), label=pick(self.label), prediction=pick(self.prediction),
                          gold=pick(self.gold), signature=pick(self.signature), correct=self.correct[rows],
                          numbers={k: v[rows] for k, v in self.numbers.items()}, probs=pick(self.probs),
                          perturbations=pick(self.perturbations), extra=pick(self.extra))

    def k(self) -> int:
        """The number K of rewrites, the same for every record (else an error)."""
        ks = {len(p) for p in self.perturbations}
        if len(ks) != 1:
            raise SUAInputError(f"every record needs the same number K of perturbations; found K in "
                                f"{sorted(ks)}")
        return ks.pop()


#: What the readers take: a :class:`ScoreTable`, or records (``ScoreRecord`` objects or their dicts).
Records = ScoreTable | Iterable[ScoreRecord | Mapping[str, Any]]


def read_scores(path: str | os.PathLike[str]) -> ScoreTable:
    """The :class:`ScoreTable` of a JSONL file of score records (``sua score`` output)."""
    return ScoreTable.from_records((rec for _, rec in read_jsonl(path)), path)


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _is_finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _checked(rec: Mapping[str, Any], position: int, source: str | os.PathLike[str]) -> Mapping[str, Any]:
    """``rec`` if every field it has is of its type (:meth:`ScoreTable.from_records`)."""
    if not isinstance(rec, Mapping):
        raise SUAInputError(f"{source}: record {position} is a {type(rec).__name__}, not a score "
                            "record (a ScoreRecord or its dict)")
    where = f"{source}: record {rec.get('id', position)!r}"
    if rec.get("correct") is not None and not isinstance(rec["correct"], bool):
        raise SUAInputError(f"{where}: correct must be true, false or null, got {rec['correct']!r}")
    for name in ("label", "prediction", "signature"):
        if rec.get(name) is not None and not isinstance(rec[name], str):
            raise SUAInputError(f"{where}: {name} must be a string or null, got {rec[name]!r}")
    for name in NUMBER_FIELDS:
        if rec.get(name) is not None and not _is_finite(rec[name]):
            raise SUAInputError(f"{where}: {name} must be a finite number, got {rec[name]!r}")
    if "probs" in rec and not (isinstance(rec["probs"], list) and all(_is_finite(v) for v in rec["probs"])):
        raise SUAInputError(f"{where}: probs must be a list of finite numbers")
    perts = rec.get("perturbations", [])
    if not isinstance(perts, list) or not all(isinstance(p, Mapping) for p in perts):
        raise SUAInputError(f"{where}: perturbations must be a list of objects")
    return rec


def _perturbation(pert: Mapping[str, Any]) -> PerturbationResult:
    """A rewrite of a record as read: the fields a line leaves out take their empty values."""
    return PerturbationResult(text=pert.get("text", ""), kind=pert.get("kind", ""),
                              family=pert.get("family", ""), params=dict(pert.get("params") or {}),
                              divergence=_nan(pert.get("divergence")), prediction=pert.get("prediction"),
                              probs=list(pert.get("probs") or []), correct=pert.get("correct"),
                              samples=pert.get("samples"))
