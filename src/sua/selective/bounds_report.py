"""`sua bounds`: every checkable Section 4 form on the cached predictions of a scored run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.io import read_jsonl
from sua.measures import entropy, true_entropy
from sua.records import Records, ScoreTable
from sua.selective._records import load_scores, probability_arrays
from sua.selective.bounds import (
    DEFAULT_GAMMAS,
    AmbiguityGapCheck,
    ConfidenceBin,
    CoveredBound,
    Inequality,
    RiskBound,
    SmoothingRow,
    corollary_4_4,
    lemma_4_6,
    lemma_4_7,
    proposition_4_8,
    theorem_4_5_table,
)


@dataclass(frozen=True)
class BoundsReport:
    """All checks of :func:`check_bounds`; ``lemma_4_6`` is ``None`` without reference data.

    ``n`` records were read, ``n_labelled`` of them have a gold label (every check but
    Lemma 4.6 uses those); ``divergence`` is the run's D behind the S column of the
    Theorem 4.5 table (``None`` when the run's config is unknown); the inequalities use
    total variation.
    """

    n: int
    n_labelled: int
    lam: float
    divergence: str | None
    corollary_4_4: RiskBound
    proposition_4_8: list[CoveredBound]
    theorem_4_5: list[ConfidenceBin]
    lemma_4_7: list[SmoothingRow]
    lemma_4_6: AmbiguityGapCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class BoundsGrid:
    """Where :func:`check_bounds` evaluates the checks that take a grid: the thresholds ``taus``
    of Prop. 4.8 (``None``: :func:`~sua.selective.bounds.proposition_4_8`'s quantiles of SUA_TV),
    the smoothing strengths ``gammas`` (each in [0, 1]) of Lemma 4.7 and the number of
    confidence bins ``n_bins`` (>= 1) of the Theorem 4.5 table. Each value is checked by the
    function that uses it.
    """

    taus: Sequence[float] | None = None
    gammas: Sequence[float] = DEFAULT_GAMMAS
    n_bins: int = 15


def _distribution(dist: Any, labels: Sequence[str], where: str) -> list[float]:
    """A ``{label: prob}`` dict as a vector in the model's label order."""
    if not isinstance(dist, Mapping):
        raise SUAInputError(f"{where}: expected a {{label: probability}} object, got {dist!r}")
    unknown = set(dist) - set(labels)
    if unknown:
        raise SUAInputError(f"{where}: labels {sorted(unknown)} are not the model's labels "
                            f"{list(labels)}")
    return [float(dist.get(name, 0.0)) for name in labels]


def _ambiguity_check(table: ScoreTable, p_clean: np.ndarray,
                     reference: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
                     labels: Sequence[str], reference_field: str,
                     interpretations_field: str) -> AmbiguityGapCheck:
    """Lemma 4.6 on the records whose id has a reference item with ``reference_field``:
    H* from that distribution (e.g. AmbiEnt ``crowd_label_dist``), A from the distribution
    over valid interpretations (AmbiEnt ``label_dist``, uniform over the gold labels), η = 0."""
    items = (rec for _, rec in read_jsonl(reference)) if isinstance(reference, (str, os.PathLike)) \
        else reference
    position = {rid: i for i, rid in enumerate(table.ids)}
    rows, true_dists, interp_dists = [], [], []
    for item in items:
        key = str(item.get("id"))
        if item.get(reference_field) is None or key not in position:
            continue
        rows.append(position[key])
        true_dists.append(_distribution(item[reference_field], labels, f"item {key!r}"))
        interp_dists.append(_distribution(item.get(interpretations_field), labels,
                                          f"item {key!r} field {interpretations_field!r}"))
    if not rows:
        raise SUAInputError(f"no reference item with {reference_field!r} matches a record id; "
                            "pass the data file the records were scored from")
    return lemma_4_6(true_entropy(np.asarray(true_dists)), true_entropy(np.asarray(interp_dists)),
                     entropy(p_clean[rows]))


def check_bounds(
    source: str | os.PathLike[str] | Records,
    *,
    labels: Sequence[str] | None = None,
    lam: float | None = None,
    grid: BoundsGrid | None = None,
    reference: str | os.PathLike[str] | Iterable[Mapping[str, Any]] | None = None,
    reference_field: str = "crowd_label_dist",
    interpretations_field: str = "label_dist",
) -> BoundsReport:
    """Check Corollary 4.4 (both forms), Prop. 4.8 (on a τ grid), Lemma 4.7 and, with
    ``reference``, Lemma 4.6; tabulate Theorem 4.5. See :mod:`sua.selective.bounds`.

    ``source`` is a ``sua score`` output file, its run folder, or records in memory. The
    label order of the cached probs comes from ``labels``, else the run's ``.meta.json``;
    λ from ``lam``, else the run's config, else 1. ``grid`` (:class:`BoundsGrid`, default
    ``BoundsGrid()``) holds the τ, γ and bin grids. ``reference`` is the items (file or dicts,
    matched by ``id``) that carry ``reference_field`` and ``interpretations_field``.
    """
    grid = grid or BoundsGrid()
    if isinstance(source, (str, os.PathLike)):
        records, config = load_scores(source)
    else:
        records, config = ScoreTable.of(source), {}
    labels = labels if labels is not None else config.get("labels")
    if not labels:
        raise SUAInputError("the model's label list is unknown: pass labels=[...] (the order of "
                            "the records' probs) or keep the scores file's .meta.json beside it")
    lam = float(lam if lam is not None else config.get("lam", 1.0))
    p_clean, p_pert, y = probability_arrays(records, labels)
    lab = y >= 0
    if not lab.any():
        raise SUAInputError("no record has a gold label; the risk bounds need labelled records")
    p, pp, yl = p_clean[lab], p_pert[lab], y[lab]
    ambiguity = None if reference is None else _ambiguity_check(
        records, p_clean, reference, labels, reference_field, interpretations_field)
    return BoundsReport(
        n=len(records), n_labelled=int(lab.sum()), lam=lam,
        divergence=config.get("divergence"),
        corollary_4_4=corollary_4_4(p, pp, yl, lam),
        proposition_4_8=proposition_4_8(p, pp, yl, lam, grid.taus),
        theorem_4_5=theorem_4_5_table(p, yl, records.column("sensitivity")[lab], grid.n_bins),
        lemma_4_7=lemma_4_7(p, pp, yl, grid.gammas),
        lemma_4_6=ambiguity,
    )


def _f(x: float) -> str:
    return f"{x:.4f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(v if isinstance(v, str) else _f(v) if isinstance(v, float)
                              else str(v) for v in row) + " |" for row in rows]
    return out


def _inequality_row(ineq: Inequality) -> list[Any]:
    terms = " + ".join(f"{k} {_f(v)}" for k, v in ineq.terms.items())
    return [ineq.name, ineq.lhs, ineq.rhs, terms, ineq.slack, "yes" if ineq.holds else "**NO**"]


def format_bounds(report: BoundsReport) -> str:
    """The report as Markdown: one table per result, both sides of every inequality."""
    lines = [f"# SUA bounds: {report.n} records, {report.n_labelled} labelled, λ = {report.lam:g}",
             "",
             "0-1 loss of the randomized predictor, R(x) = 1 - p(y|x); S and SUA with total "
             "variation (L = 1). Forms from SPEC.md \"Results\"; the paper's exact constants "
             "were lost, these follow from its assumptions.", "",
             "## Corollary 4.4: perturbed risk <= clean risk + R_SUA + λ·E[H]", ""]
    cor = report.corollary_4_4
    lines += _table(["form", "lhs", "rhs", "rhs terms", "slack", "holds"],
                    [_inequality_row(cor.expected), _inequality_row(cor.worst)])
    lines += ["", "## Proposition 4.8: abstain when SUA_TV > τ", ""]
    lines += _table(["τ", "coverage", "covered", "perturbed risk", "bound", "slack", "holds"],
                    [[r.tau, r.coverage, r.n_covered, r.bound.lhs, r.bound.rhs, r.bound.slack,
                      "yes" if r.bound.holds else "**NO**"]
                     for r in report.proposition_4_8 if r.bound is not None])
    lines += ["", "## Theorem 4.5: confidence bins (S with D = "
              f"{report.divergence or 'as recorded'})", ""]
    lines += _table(["bin", "count", "confidence", "accuracy", "gap", "mean S", "mean H"],
                    [[f"[{b.lower:.3f}, {b.upper:.3f})", b.count, b.mean_confidence, b.accuracy,
                      b.gap, b.mean_sensitivity, b.mean_entropy] for b in report.theorem_4_5])
    lines += ["", "## Lemma 4.7: label smoothing q = (1-γ)p + γu", ""]
    lines += _table(["γ", "mean JSD", "(1-γ)·JSD_0", "base risk", "mean H"],
                    [[r.gamma, r.divergence, r.divergence_bound, r.risk, r.mean_entropy]
                     for r in report.lemma_4_7])
    if report.lemma_4_6 is not None:
        a = report.lemma_4_6
        lines += ["", "## Lemma 4.6: Δ(x) >= A(x) - H(x) - η (η = 0)", "",
                  f"{a.n} items with a reference label distribution: the inequality holds on "
                  f"{a.share_holds:.1%} of them; mean slack {_f(a.mean_slack)} (min "
                  f"{_f(a.min_slack)}), mean Δ {_f(a.mean_gap)}, mean A - H {_f(a.mean_rhs)}. "
                  "The slack is H* - A: the lemma assumes the label entropy reaches the "
                  "interpretation entropy, which real annotations need not meet."]
    return "\n".join(lines) + "\n"


def bounds_report(scores: str | os.PathLike[str], **options: Any) -> str:
    """:func:`check_bounds` on a scores file or run folder, formatted as Markdown."""
    return format_bounds(check_bounds(scores, **options))
