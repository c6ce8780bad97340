"""AbstentionPolicy: answer or abstain from the cached S and H (Prop. 4.8, §5.5, Appendix C),
with τ chosen on held-out records for a target coverage or a certified target risk."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sua.errors import SUAInputError
from sua.measures import failure_auroc, sua_score
from sua.measures.failure_scores import failure_score
from sua.measures.metrics import check_level, coverage_threshold
from sua.outputs import write_text_atomic
from sua.records import Records, ScoreTable
from sua.selective.lam import CRITERIA, DEFAULT_LAMBDA_GRID, select_lambda
from sua.selective.risk_control import certify_fixed_sequence
from sua.validate import check_policy, read_json_object

#: The score an abstention policy thresholds (higher = abstain sooner).
SCORES = ("sua", "entropy", "combined")
#: The default score: entropy, the best failure ranker measured in docs/results (evidence run,
#: three seeds: AUROC 0.752 NLI, 0.803 topic), where SUA at λ = 1 ranks failures backwards (0.284,
#: 0.216) and S alone trails entropy in domain (0.665, 0.767).
DEFAULT_SCORE = "entropy"
#: The failure scores (:data:`sua.measures.failure_scores.FAILURE_SCORES`) each policy score
#: thresholds: combined = "SUA > τ₁ or H > τ₂" (Appendix C).
_AXES = {"sua": ("sua",), "entropy": ("entropy",), "combined": ("sua", "entropy")}
#: What each Appendix C signature says about an input, for the explanations.
SIGNATURE_MEANINGS = {
    "sensitivity_failure": "the answer moves under meaning-preserving rewrites while the model "
                           "claims to be sure",
    "epistemic": "the model is uncertain and says so",
    "ambiguity_collapse": "several readings are plausible but the model answers confidently",
    "aligned": "the answer's stability and the model's stated uncertainty agree",
}
_FORMAT = "sua.AbstentionPolicy"

Lam = float | Literal["select"]


class AbstentionPolicy:
    """Abstain when the failure score of an input exceeds a threshold fitted on held-out data.

    Scores, from each record's cached ``sensitivity`` S and ``entropy`` H:

    - ``"sua"``: abstain if ``SUA_λ(x) = S(x) - λ·H(x) > τ`` (Prop. 4.8). ``lam`` is a
      number, or ``"select"`` to choose it on the fit records with
      :func:`sua.selective.select_lambda` (``lam_grid``, ``lam_criterion``).
    - ``"entropy"``: abstain if ``H(x) > τ`` (the usual baseline).
    - ``"combined"``: abstain if ``SUA_λ(x) > τ₁`` or ``H(x) > τ₂`` (Appendix C).

    ``fit(records, target_coverage=c)`` sets τ with :func:`sua.measures.metrics.coverage_threshold`
    (the package's one coverage cut) so that ``c(τ) = P(score <= τ) >= c`` on the fit records;
    for ``"combined"`` it searches an ``n_grid`` × ``n_grid`` grid of (τ₁, τ₂) at score
    quantiles in ``[c, 1]`` and keeps the pair with the highest selective accuracy among those
    covering at least ``c``.

    ``fit(records, target_risk=r, delta=δ)`` takes candidate thresholds at the score
    quantiles of ``n_grid`` coverage levels from ``min_coverage`` to 1 (``"combined"``: both
    thresholds at a common empirical rank, set for the joint coverage), tests them from the
    most to the least conservative with Clopper-Pearson bounds
    (:func:`sua.selective.certify_fixed_sequence`) and keeps the last one certified: with
    probability at least ``1 - δ`` over the fit records, its selective risk
    ``P(wrong | answered)`` is at most ``r``. If none is certified the policy abstains on
    everything and warns. Choosing λ on the same records (``lam="select"``) reuses them, which
    the certificate does not account for: select λ on a separate split for a strict guarantee.

    Records are ``ScoreRecord`` objects or the dicts of a ``sua score`` JSONL file. After
    ``fit``: ``lam_`` (the λ used), ``thresholds_`` (``{"sua": τ₁, "entropy": τ₂}``, the keys
    of the score) and ``fit_report_`` (targets, achieved coverage and risk, the λ sweep, and
    on labelled records each thresholded value's failure AUROC ``P(v(wrong) > v(right))``).
    ``fit`` warns when that AUROC is below 0.5: the score ranks failures backwards on these
    records, so thresholding it abstains on the inputs most likely to be right.
    The default score is :data:`DEFAULT_SCORE` (entropy), the one the measured evidence supports.
    Picklable, ``sklearn.base.clone``-able; ``save``/``load`` write and read JSON.

    >>> recs = [{"sensitivity": s, "entropy": 0.1} for s in (0.0, 0.1, 0.2, 0.3, 0.4)]
    >>> policy = AbstentionPolicy("sua", lam=1.0).fit(recs, target_coverage=0.6)
    >>> round(policy.thresholds_["sua"], 6), policy.predict(recs).tolist()
    (0.1, [False, False, False, True, True])
    """

    def __init__(self, score: str = DEFAULT_SCORE, lam: Lam = 1.0, *, n_grid: int = 50,
                 min_coverage: float = 0.1, lam_grid: Sequence[float] = DEFAULT_LAMBDA_GRID,
                 lam_criterion: str = "auroc") -> None:
        self.score = score
        self.lam = lam
        self.n_grid = n_grid
        self.min_coverage = min_coverage
        self.lam_grid = lam_grid
        self.lam_criterion = lam_criterion
        self._check_params()

    # -- parameters ----------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.score not in SCORES:
            raise SUAInputError(f"score must be one of {SCORES}, got {self.score!r}")
        if self.lam != "select" and (isinstance(self.lam, bool)
                                     or not isinstance(self.lam, (int, float))
                                     or not 0 <= self.lam < math.inf):
            raise SUAInputError(f"lam must be a finite number >= 0 or 'select', got {self.lam!r}")
        if isinstance(self.n_grid, bool) or not isinstance(self.n_grid, int) or self.n_grid < 2:
            raise SUAInputError(f"n_grid must be an integer >= 2, got {self.n_grid!r}")
        check_level(self.min_coverage, "min_coverage")
        if self.lam_criterion not in CRITERIA:
            raise SUAInputError(f"lam_criterion must be one of {CRITERIA}, "
                                f"got {self.lam_criterion!r}")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn convention; ``deep`` is accepted for
        compatibility, there are no nested estimators)."""
        return {"score": self.score, "lam": self.lam, "n_grid": self.n_grid,
                "min_coverage": self.min_coverage, "lam_grid": self.lam_grid,
                "lam_criterion": self.lam_criterion}

    def set_params(self, **params: Any) -> AbstentionPolicy:
        """Set constructor parameters (scikit-learn convention); unknown names are an error."""
        unknown = set(params) - set(self.get_params())
        if unknown:
            raise SUAInputError(f"unknown parameters {sorted(unknown)}; valid: "
                                f"{sorted(self.get_params())}")
        for name, value in params.items():
            setattr(self, name, value)
        self._check_params()
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting -------------------------------------------------------------------------

    def _values(self, table: ScoreTable, lam: float) -> dict[str, np.ndarray]:
        """The registry's ``sua`` (recomputed at ``lam``) and ``entropy`` failure scores."""
        s, h = table.column("sensitivity"), table.column("entropy")
        columns = {"sensitivity": s, "entropy": h, "sua": sua_score(s, h, lam)}
        return {name: failure_score(name, columns) for name in ("sua", "entropy")}

    def fit(self, records: Records, *, target_coverage: float | None = None,
            target_risk: float | None = None, delta: float = 0.05) -> AbstentionPolicy:
        """Choose λ (if ``lam="select"``) and the threshold(s) on held-out ``records``.

        Give exactly one of ``target_coverage`` (in (0, 1]) and ``target_risk`` (in (0, 1],
        with confidence ``1 - delta``). The risk target, the combined score and λ selection
        need gold labels (the records' ``correct``).
        """
        if (target_coverage is None) == (target_risk is None):
            raise SUAInputError("give exactly one of target_coverage and target_risk "
                                f"(got target_coverage={target_coverage!r}, "
                                f"target_risk={target_risk!r})")
        table = ScoreTable.of(records)
        report: dict[str, Any] = {"n": len(table)}
        if target_coverage is not None:
            report["target_coverage"] = check_level(target_coverage, "target_coverage")
        else:
            report["target_risk"] = check_level(target_risk, "target_risk")
        lam = self.lam
        if lam == "select":
            sel = select_lambda(table, self.lam_grid, self.lam_criterion,
                                coverage=report.get("target_coverage", 0.8))
            lam = sel.lam
            report["lambda_selection"] = {"criterion": sel.criterion, "coverage": sel.coverage,
                                          "table": sel.table}
        values = self._values(table, float(lam))
        if target_coverage is not None:
            thresholds = self._fit_coverage(values, table, report["target_coverage"])
        else:
            thresholds = self._fit_risk(values, table, delta, report)
        self.lam_ = float(lam)
        self.thresholds_ = thresholds
        covered = _covered(values, thresholds)
        report["coverage"] = float(covered.mean())
        if table.labelled().all():
            wrong = ~table.right("the risk")
            if covered.any():
                report["selective_risk"] = float(wrong[covered].mean())
            self._check_ranking(values, wrong, report)
        self.fit_report_ = report
        return self

    def _check_ranking(self, values: dict[str, np.ndarray], wrong: np.ndarray,
                       report: dict[str, Any]) -> None:
        """Record the failure AUROC of each thresholded value; warn when one is below 0.5."""
        if wrong.all() or not wrong.any():
            return
        aurocs = {name: failure_auroc(values[name], wrong) for name in _AXES[self.score]}
        report["failure_auroc"] = aurocs
        backwards = {name: a for name, a in aurocs.items() if a < 0.5}
        if backwards:
            shown = ", ".join(f"{'SUA' if n == 'sua' else 'H'}: {a:.3f}" for n, a in backwards.items())
            warnings.warn(f"the score {self.score!r} ranks failures backwards on these {len(wrong)} "
                          f"records (failure AUROC {shown} < 0.5): the policy abstains on the inputs "
                          "most likely to be right. Pick a score whose failure AUROC on your data is "
                          "above 0.5 (fit_report_['failure_auroc']; entropy is the measured default, "
                          "lam='select' chooses λ on these records)",
                          stacklevel=3)

    def _fit_coverage(self, values: dict[str, np.ndarray], table: ScoreTable,
                      target: float) -> dict[str, float]:
        if self.score != "combined":
            return {self.score: coverage_threshold(values[self.score], target)}
        right = table.right("the combined score").astype(np.float64)
        levels = np.linspace(target, 1.0, self.n_grid)
        grids = {name: np.unique([coverage_threshold(values[name], lv) for lv in levels])
                 for name in _AXES["combined"]}
        under_sua = (values["sua"][None, :] <= grids["sua"][:, None]).astype(np.float64)
        under_h = (values["entropy"][None, :] <= grids["entropy"][:, None]).astype(np.float64)
        n_cov = under_sua @ under_h.T  # (τ₁ candidates, τ₂ candidates)
        n_right = under_sua @ (under_h * right).T
        feasible = n_cov >= target * len(table) - 1e-9
        accuracy = np.where(feasible, n_right / np.maximum(n_cov, 1.0), -1.0)
        # the highest selective accuracy, then the highest coverage
        best = np.lexsort((n_cov.ravel(), accuracy.ravel()))[-1]
        i, j = np.unravel_index(best, n_cov.shape)
        return {"sua": float(grids["sua"][i]), "entropy": float(grids["entropy"][j])}

    def _fit_risk(self, values: dict[str, np.ndarray], table: ScoreTable,
                  delta: float, report: dict[str, Any]) -> dict[str, float]:
        target_risk = report["target_risk"]
        wrong = ~table.right("a target risk")
        names = _AXES[self.score]
        levels = np.linspace(self.min_coverage, 1.0, self.n_grid)
        candidates = _rank_path({n: values[n] for n in names}, levels)
        covered = np.stack([_covered(values, c) for c in candidates])
        cert = certify_fixed_sequence(covered, wrong, target_risk, delta)
        report.update(delta=float(delta), certified=cert.index >= 0,
                      candidates_tested=min(cert.index + 2, len(levels)))
        if cert.index < 0:
            warnings.warn(f"no threshold certifies selective risk <= {target_risk} at "
                          f"delta={delta} on {len(table)} records (the most conservative "
                          f"candidate's bound is {cert.upper_bounds[0]:.4f}); the policy "
                          "abstains on every input. Raise target_risk or delta, lower "
                          "min_coverage, or fit on more records", stacklevel=3)
            return {n: -math.inf for n in names}
        report["risk_upper_bound"] = float(cert.upper_bounds[cert.index])
        return candidates[cert.index]

    # -- prediction ----------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "thresholds_"):
            raise SUAInputError("this AbstentionPolicy is not fitted; call fit(...) or "
                                "AbstentionPolicy.load(path) first")

    def _fitted_values(self, table: ScoreTable) -> dict[str, np.ndarray]:
        self._check_fitted()
        return self._values(table, self.lam_)

    def decision_function(self, records: Records) -> np.ndarray:
        """Margin ``max_j (score_j(x) - τ_j)`` per record, shape (N,): > 0 means abstain."""
        values = self._fitted_values(ScoreTable.of(records))
        return np.max([values[n] - t for n, t in self.thresholds_.items()], axis=0)

    def predict(self, records: Records) -> np.ndarray:
        """Boolean array (N,): ``True`` where the policy abstains."""
        return self.decision_function(records) > 0

    def explain(self, records: Records) -> list[dict[str, Any]]:
        """One decision per record, with its reasons: the decision, the Appendix C signature
        and what it means, and the numbers behind it (S, H, λ, SUA_λ, the thresholds)."""
        table = ScoreTable.of(records)
        table.require(["sensitivity", "signature"], "explain reads `sua score` output")
        values = self._fitted_values(table)
        out = []
        for i, rid in enumerate(table.ids):
            parts = [f"{'SUA' if n == 'sua' else 'H'} = {values[n][i]:.4g} "
                     f"{'>' if values[n][i] > t else '<='} τ = {t:.4g}"
                     for n, t in self.thresholds_.items()]
            sig = table.signature[i]
            abstain = any(values[n][i] > t for n, t in self.thresholds_.items())
            out.append({
                "id": rid,
                "prediction": table.prediction[i],
                "label": table.label[i],
                "correct": None if table.correct[i] < 0 else bool(table.correct[i]),
                "abstain": abstain,
                "reason": f"{'abstain' if abstain else 'answer'}: {' and '.join(parts)}; "
                          f"{sig}: {SIGNATURE_MEANINGS.get(sig, 'unknown signature')}",
                "signature": sig,
                "sensitivity": float(table.numbers["sensitivity"][i]),
                "entropy": float(values["entropy"][i]),
                "lam": self.lam_,
                "sua": float(values["sua"][i]),
                "thresholds": dict(self.thresholds_),
            })
        return out

    # -- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the fitted policy (non-finite numbers become null)."""
        self._check_fitted()
        return _jsonable({"format": _FORMAT, "version": 1, "params": self.get_params(),
                          "lam": self.lam_, "thresholds": self.thresholds_,
                          "fit_report": self.fit_report_})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AbstentionPolicy:
        """Rebuild a policy written by :meth:`to_dict`; a null threshold means -inf."""
        keys = ("params", "lam", "thresholds", "fit_report")
        if not isinstance(data, dict) or data.get("format") != _FORMAT \
                or any(k not in data for k in keys):
            raise SUAInputError(f"not a saved AbstentionPolicy (expected format {_FORMAT!r} "
                                f"with {', '.join(keys)})")
        params = dict(data["params"])
        if "lam_grid" in params:  # JSON has no tuples
            params["lam_grid"] = tuple(params["lam_grid"])
        try:
            policy = cls(**params)
        except TypeError as exc:
            raise SUAInputError(f"policy params are not AbstentionPolicy's: {exc}") from None
        policy.lam_ = float(data["lam"])
        policy.thresholds_ = {n: -math.inf if t is None else float(t)
                              for n, t in data["thresholds"].items()}
        policy.fit_report_ = data["fit_report"]
        return policy

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted policy as JSON to ``path``."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2, allow_nan=False))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AbstentionPolicy:
        """Read a policy written by :meth:`save`."""
        return cls.from_dict(check_policy(read_json_object(path, "policy"), path))


def _rank_path(values: dict[str, np.ndarray], levels: np.ndarray) -> list[dict[str, float]]:
    """Label-free nested thresholds, one set per coverage level: answer when every score's
    empirical rank ``F_j(x) = P(score_j <= score_j(x))`` is at most a common ``t``, with ``t``
    the smallest rank whose joint coverage on ``values`` reaches the level. For one score
    this is :func:`coverage_threshold`."""
    ranks = {n: np.searchsorted(np.sort(v), v, side="right") / v.size for n, v in values.items()}
    joint = np.max(list(ranks.values()), axis=0)
    path = []
    for level in levels:
        t = coverage_threshold(joint, level)
        path.append({n: float(values[n][ranks[n] <= t].max()) for n in values})
    return path


def _covered(values: dict[str, np.ndarray], thresholds: dict[str, float]) -> np.ndarray:
    """Answered inputs: every thresholded value ``<=`` its threshold."""
    return np.logical_and.reduce([values[n] <= t for n, t in thresholds.items()])


def _jsonable(obj: Any) -> Any:
    """``obj`` with non-finite floats replaced by ``None`` (strict JSON has no inf/NaN)."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
