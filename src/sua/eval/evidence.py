"""The evidence run's answer: packed units in, claims with intervals and verdicts out.

``run_unit`` trains and scores one (task, preset, seed) unit of an evidence profile on every
split; ``export_run`` packs every score file of a run folder (:mod:`sua.eval.artifacts`) and the
learning curves of its trained units into a results folder; ``derive`` computes, from that folder
alone (no model, no run folder), ``claims.json`` (each of the paper's comparative claims as a
signed paired difference with its 95 % bootstrap interval, verdict, FDR-controlled verdict and
its value on each seed, :mod:`sua.eval.intervals`),
``summary.json`` (per task: in-domain accuracy, test size, Q_x setting, Figure 2's AUROC per
score and split), ``evidence.md``, ``figure2_auroc.png`` and ``learning_curves.png``.

Layout of a results folder::

    units/<task>/<preset>/seed<S>/<split>.npz    packed score files (K = the profile's k)
    curves/<task>-<preset>-seed<S>.json          validation accuracy / S / H along training
    run.json                                     the profile and the run's versions

Failure scores computed from the packed columns (higher = more likely wrong): ``entropy`` H,
``1 − max p`` (and ``1 − max p (TS)`` under a temperature fitted on validation), ``S`` (mean JSD
over the K rewrites), ``S worst`` (max over K), ``SUA (λ=1)`` = S − H, ``SUA (λ val)`` with λ
from a grid chosen on the validation split, ``flip share`` (rewrites whose prediction differs
from x's), ``1 − self-consistency`` (MC-dropout agreement) and ``logistic (H + rewrites)``: a
logistic regression fitted on validation to H, S per family, S worst and the flip share
(standardised) — what only perturbations reveal, on top of entropy.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.eval.artifacts import Columns, pack_records, read_columns, write_columns
from sua.eval.intervals import Draws, Statistic, bootstrap, draw, fdr_verdicts, pool_seeds, seed_mean
from sua.eval.json_values import finite_or_none
from sua.eval.runner import ExperimentRun, UnitEngine, load_profile, pin_profile
from sua.eval.tasks import load_task
from sua.io import complete_ids, read_jsonl
from sua.manifest import meta_path_for
from sua.measures import ambiguity_proxy, divergence, entropy, signature, sua_score
from sua.measures.metrics import calibration_error_rows, selective_accuracy_rows
from sua.measures.ranking import TiedRanks, failure_auroc, failure_auroc_rows, spearman_rows
from sua.records import read_scores

#: A runner score file: ``<split>-k<K>-s0[-q<setting>].jsonl``.
SCORE_FILE = re.compile(r"(?P<split>[\w-]+?)-k\d+-s0(?:-q(?P<qx>\w+))?\.jsonl")
LAM_GRID = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
N_RESAMPLES = 1000


# -- units and export -----------------------------------------------------------------------


def run_unit(run: ExperimentRun, task: str, preset: str, seed: int,
             splits: Sequence[str] | None = None) -> None:
    """Train (or resume) one unit and score it on every split of its task but ``train``
    (validation and the in-domain test first), or only on ``splits`` (a grid point is scored on
    ``validation``, where its tuned row is selected, :meth:`Results.resolve`; none: the model is
    trained and the unit folder can move with the run folder, e.g. from a GPU machine, to be
    scored where it lands), under the profile's Q_x and its ``second_qx``, with the MC-dropout
    agreement; everything is cached in the run folder, so a rerun resumes."""
    spec = run.task(task)
    chosen = spec.splits.values() if splits is None else [spec.split(name) for name in splits]
    run.model_dir(task, preset, seed)
    order = sorted((s for s in chosen if s.role != "train"),
                   key=lambda s: (s.role not in ("validation", "in-domain"), s.role != "validation"))
    second = run.profile.get("second_qx")
    for split in order:
        run.scores(task, preset, seed, split.name)
        if second and split.perturber is None:
            run.scores(task, preset, seed, split.name, qx=second)
        run.agreement(task, preset, seed, split.name)



def run_units(run_dir: str | os.PathLike[str], profile: str | os.PathLike[str],
              units: Sequence[tuple[str, str, int]], *, data_dir: str | os.PathLike[str] | None = None,
              splits: Sequence[str] | None = None, progress: bool = True,
              engine: UnitEngine | None = None, log: Callable[[str], None] = print) -> None:
    """``sua evidence unit``: :func:`run_unit` for each ``(task, preset, seed)`` of ``units`` (on
    ``splits`` only, when given; an empty ``splits`` trains and scores nothing) in the run folder
    ``run_dir`` pinned to ``profile`` (a name or TOML file; another profile on the same folder is
    an error), in this process (one ``log`` line per finished unit) or on ``engine`` (e.g.
    :class:`sua.distributed.RayUnitEngine`)."""
    config = load_profile(profile)
    run = ExperimentRun(pin_profile(run_dir, config), config, data_dir=data_dir, progress=progress, log=log)
    work = partial(run_unit, splits=splits)
    if engine is not None:
        engine.run(run, work, units)
        return
    for task, preset, seed in units:
        work(run, task, preset, seed)
        log(f"unit {task}:{preset}:{seed} done")


def _scored_whole(scores: Path, run_dir: Path) -> bool:
    """Whether a run's score file holds a record of every input of its split. A file with a
    manifest is checked against the split's records it names (a unit still scoring, or cut off,
    is not packed yet); a file without one was written whole by the older runner."""
    meta = meta_path_for(scores)
    if not meta.exists():
        return True
    data = json.loads(meta.read_text(encoding="utf-8"))["config"]["data"].replace("<run>", str(run_dir))
    return {r["id"] for _, r in read_jsonl(data)} <= complete_ids(scores)


def export_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
               log: Callable[[str], None] = print) -> list[Path]:
    """Pack every finished score file and learning curve of ``run_dir`` into ``out_dir``
    (layout in the module doc), saying (``log``) which score files are left out because they
    are not finished; returns the files written. Rerunning rewrites them."""
    run_dir, out = Path(run_dir), Path(out_dir)
    profile_file = run_dir / "profile.json"
    if not profile_file.exists():
        raise SUAInputError(f"{run_dir} is not a run folder (no profile.json)")
    profile = json.loads(profile_file.read_text(encoding="utf-8"))
    written = []
    for unit in sorted((run_dir / "units").glob("*/*/seed*")):
        task, preset, seed = unit.parent.parent.name, unit.parent.name.rsplit("-n", 1)[0], unit.name
        spec = load_task(task)
        for scores in sorted((unit / "scores").glob(f"*-k{profile['k']}-s0*.jsonl")):
            found = SCORE_FILE.fullmatch(scores.name)
            if found is None:
                continue
            if not _scored_whole(scores, run_dir):
                log(f"not packed (not finished): {scores.relative_to(run_dir)}")
                continue
            split, qx = found["split"], found["qx"]
            sp = spec.split(split)
            records = read_scores(scores)
            labels = None if spec.kind == "qa" else list(sp.label_groups or spec.labels or [])
            votes = unit / "votes" / f"{split}-m{profile['mc_passes']}.json"
            agreement = np.asarray(json.loads(votes.read_text(encoding="utf-8"))) if votes.exists() else None
            name = f"{split}.{qx}" if qx else split
            written.append(write_columns(out / "units" / task / preset / seed / f"{name}.npz",
                                         pack_records(records, labels, agreement)))
        train_log = unit / "train_log.jsonl"
        if train_log.exists():
            curve = [{"step": r["step"], "epoch": r["epoch"], **r["eval"]}
                     for _, r in read_jsonl(train_log) if "eval" in r]
            path = out / "curves" / f"{task}-{preset}-{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(curve, indent=1), encoding="utf-8")
            written.append(path)
    meta = {"profile": profile, "run": run_dir.name}
    (out / "run.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return written


# -- failure scores from packed columns -----------------------------------------------------


def _flip_share(c: Columns) -> np.ndarray:
    """Share of rewrites whose prediction differs from x's (label-free: argmax class, or for QA
    the normalised answer)."""
    if c.probs is None:
        if c.pert_flip is None:
            raise SUAInputError("a QA pack without pert_flip (packed before it existed): re-export the run")
        return c.pert_flip.mean(axis=1)
    return np.mean(c.pert_probs.argmax(-1) != c.probs.argmax(-1)[:, None], axis=1)


def _per_rewrite_divergence(c: Columns) -> np.ndarray:
    if c.probs is None:
        return c.divergence.astype(np.float64)
    p = c.probs.astype(np.float64)
    q = c.pert_probs.astype(np.float64)
    p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
    return np.asarray(divergence(np.broadcast_to(p[:, None], q.shape), q, "jsd"))


@dataclass
class Scored:
    """One unit on one split: correctness and every failure score (module doc)."""

    columns: Columns
    correct: np.ndarray          # bool, over the labelled items
    scores: dict[str, np.ndarray]
    features: np.ndarray         # (n, f) inputs of the logistic score
    confidence: np.ndarray       # max p, for the ECE
    ids: np.ndarray              # of the labelled items
    ambiguity: np.ndarray | None  # the ambiguity proxy over x and its rewrites (classifiers)


def score_columns(c: Columns) -> Scored:
    """Failure scores of a packed split, restricted to its labelled items."""
    keep = c.correct >= 0
    d = _per_rewrite_divergence(c)
    h = (np.asarray(entropy(c.probs.astype(np.float64) / c.probs.sum(-1, keepdims=True)))
         if c.probs is not None else c.entropy.astype(np.float64))
    max_p = c.probs.max(-1).astype(np.float64) if c.probs is not None else c.max_prob.astype(np.float64)
    s, worst, flips = d.mean(1), d.max(1), _flip_share(c)
    scores = {"entropy": h, "1 − max p": 1 - max_p, "S": s, "S worst": worst,
              "SUA (λ=1)": np.asarray(sua_score(s, h, 1.0)), "flip share": flips}
    if c.agreement is not None:
        scores["1 − self-consistency"] = 1 - c.agreement.astype(np.float64)
    masks = [c.family_mask(f) for f in ("paraphrase", "token", "adversarial")]
    # S over one family's rewrites (0 where the input drew none from it)
    per_family = [(d * m).sum(1) / np.maximum(m.sum(1), 1) for m in masks]
    features = np.column_stack([h, *per_family, worst, flips])
    ambiguity = None
    if c.probs is not None:
        argmax = np.concatenate([c.probs.argmax(-1)[:, None], c.pert_probs.argmax(-1)], axis=1)
        ambiguity = np.asarray(ambiguity_proxy(argmax, num_classes=c.probs.shape[-1]))[keep]
    return Scored(c, c.correct[keep] == 1, {k: v[keep] for k, v in scores.items()}, features[keep],
                  max_p[keep], c.ids[keep], ambiguity)


def _log_probs(c: Columns, rows: np.ndarray) -> np.ndarray:
    """log p(·|x) of the chosen rows (the logits temperature scaling divides)."""
    return np.log(np.clip(c.probs[rows].astype(np.float64), 1e-12, None))


@dataclass(frozen=True)
class ValidationFit:
    """What is fitted on a unit's validation split, once, and added to each of its other splits:
    ``lam``, the λ of :data:`LAM_GRID` with the best validation AUROC of SUA; ``logistic``, the
    logistic score's model; ``scaler``, temperature scaling (classifiers). ``lam`` and
    ``logistic`` are ``None`` when validation has one class (no AUROC to choose λ by, no logistic
    to fit: the claims on these scores are left out, :func:`evaluate_claim`)."""

    lam: float | None
    logistic: Any | None
    scaler: Any | None

    def apply(self, test: Scored) -> None:
        """Add ``SUA (λ val)``, ``logistic (H + rewrites)`` and ``1 − max p (TS)`` to ``test``."""
        if self.lam is not None:
            s, h = test.scores["S"], test.scores["entropy"]
            test.scores["SUA (λ val)"] = np.asarray(sua_score(s, h, self.lam))
            test.scores["logistic (H + rewrites)"] = self.logistic.predict_proba(test.features)[:, 1]
        if self.scaler is not None:
            scaled = self.scaler.transform(_log_probs(test.columns, test.columns.correct >= 0))
            test.scores["1 − max p (TS)"] = 1 - scaled.max(-1)


def fit_validation(val: Scored) -> ValidationFit:
    """The :class:`ValidationFit` of a validation split (module doc)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = None
    if val.columns.label is not None:
        from sua.selective import TemperatureScaler

        labelled = (val.columns.correct >= 0) & (val.columns.label >= 0)
        scaler = TemperatureScaler().fit(_log_probs(val.columns, labelled), val.columns.label[labelled])
    wrong = ~val.correct
    if wrong.all() or not wrong.any():
        return ValidationFit(None, None, scaler)
    best = max(LAM_GRID, key=lambda lam: failure_auroc(
        np.asarray(sua_score(val.scores["S"], val.scores["entropy"], lam)), wrong))
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(val.features, wrong)
    return ValidationFit(best, logistic, scaler)


# -- metrics as statistics of item indices --------------------------------------------------


def _auroc(unit: Scored, score: str) -> Statistic:
    return _auroc_of(unit, unit.scores[score])


def _auroc_of(unit: Scored, values: np.ndarray) -> Statistic:
    """Failure AUROC, P(value(wrong) > value(right)), of per-item ``values`` over ``unit``'s items."""
    ranks, wrong = TiedRanks.of(values), ~unit.correct
    return lambda rows: failure_auroc_rows(ranks, wrong, rows)


def _selective(unit: Scored, score: str, coverage: float = 0.8) -> Statistic:
    s, ok = unit.scores[score], unit.correct
    return lambda rows: selective_accuracy_rows(s, ok, rows, coverage)


def _accuracy(unit: Scored) -> Statistic:
    return lambda rows: unit.correct[rows].mean(axis=1)


def _f1(unit: Scored) -> Statistic:
    """Mean token F1 of the predicted spans (extractive QA)."""
    f1 = unit.columns.f1[unit.columns.correct >= 0].astype(np.float64)
    return lambda rows: f1[rows].mean(axis=1)


def _ece(unit: Scored, score: str | None = None) -> Statistic:
    """ECE of max p, or with ``score`` (a ``1 − confidence`` score, e.g. after temperature
    scaling) of ``1 − score``."""
    confidence = unit.confidence if score is None else 1 - unit.scores[score]
    return lambda rows: calibration_error_rows(confidence, unit.correct, rows)


def _mean_score(unit: Scored, score: str) -> Statistic:
    """The mean of a per-item score, e.g. ``S``: the mean sensitivity of the model."""
    values = unit.scores[score]
    return lambda rows: values[rows].mean(axis=1)


def _robust(unit: Scored, worst: bool = False) -> Statistic:
    keep = unit.columns.correct >= 0
    pert = unit.columns.pert_correct[keep] == 1
    per_item = (pert.all(1) & unit.correct) if worst else pert.mean(1)
    return lambda rows: per_item[rows].mean(axis=1)


#: The coverages of the selective-accuracy claims (80 %: Table 2; 90 / 80 / 70 %: Appendix B.4).
COVERAGES = (0.9, 0.8, 0.7)


def _selective_metric(coverage: float) -> str:
    return f"Sel. Acc ({round(coverage * 100)}%)"


METRICS: dict[str, Callable[..., Statistic]] = {
    "AUROC": _auroc, "Acc": lambda u, _=None: _accuracy(u),
    "ECE": _ece, "mean": _mean_score, "Rob. Acc": lambda u, _=None: _robust(u),
    "Rob. Acc (worst-of-K)": lambda u, _=None: _robust(u, worst=True),
    **{_selective_metric(c): (lambda u, score, c=c: _selective(u, score, c)) for c in COVERAGES},
}


# -- derive ---------------------------------------------------------------------------------


#: A preset name ending in this is the grid point chosen on validation (:meth:`Results.resolve`).
TUNED = " (tuned)"
#: The training presets with a tuned row: SUA-TR and AT, given the same selection budget.
TUNED_FAMILIES = ("sua-tr", "at")


class Results:
    """The packed units of a results folder, scored once each."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.dir = Path(folder)
        if not (self.dir / "units").is_dir():
            raise SUAInputError(f"{self.dir} holds no packed units (units/); run `sua evidence export` first")
        self._scored: dict[tuple[str, str, str, str], Scored] = {}
        self._fits: dict[tuple[str, str, str, str], ValidationFit] = {}
        self._draws: dict[tuple[str, ...], Draws] = {}
        self._selections: dict[tuple[str, str], tuple[str, str] | None] = {}

    def pack(self, task: str, preset: str, seed: str, split: str) -> Path:
        """The packed file of ``preset`` (a plain preset or grid point) on ``seed`` and ``split``."""
        return self.dir / "units" / task / preset / seed / f"{split}.npz"

    def seeds(self, task: str, preset: str, split: str) -> list[str]:
        """Seeds of ``preset`` (for a tuned preset: of the point it resolves to) scored on ``split``."""
        if preset.endswith(TUNED):
            chosen = self.selection(task, preset.removesuffix(TUNED))
            if chosen is None:
                return []
            preset = chosen[1]
        return sorted(p.parent.name for p in (self.dir / "units" / task / preset).glob(f"seed*/{split}.npz"))

    def candidates(self, task: str, family: str) -> list[str]:
        """A preset and its grid points (``family@...``) that were run."""
        folder = self.dir / "units" / task
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.name == family or p.name.startswith(family + "@"))

    def selection(self, task: str, family: str) -> tuple[str, str] | None:
        """``(seed, point)``: the selection seed, the lowest seed on which any of ``family``'s
        candidates was scored on validation, and the candidate validated there with the best
        :meth:`validation_quality`; ``None`` when none was validated. Selected once per task, the
        point is then run on every seed (the usual protocol, and a third of the grid's cost).
        Computed once per (task, family)."""
        if (task, family) not in self._selections:
            self._selections[task, family] = self._select(task, family)
        return self._selections[task, family]

    def _select(self, task: str, family: str) -> tuple[str, str] | None:
        names = self.candidates(task, family)
        validated = {p.parent.name for name in names
                     for p in (self.dir / "units" / task / name).glob("seed*/validation.npz")}
        if not validated:
            return None
        seed = min(validated, key=lambda s: int(s.removeprefix("seed")))
        found = [name for name in names if self.has(task, name, seed, "validation")]
        return seed, max(found, key=lambda name: self.validation_quality(task, name, seed))

    def resolve(self, task: str, preset: str, seed: str) -> str:
        """``preset`` itself, or for ``"<family> (tuned)"`` the point of its :meth:`selection`
        (the same on every ``seed``)."""
        if not preset.endswith(TUNED):
            return preset
        chosen = self.selection(task, preset.removesuffix(TUNED))
        if chosen is None:
            raise SUAInputError(f"{task}: no validated grid point of {preset!r}")
        return chosen[1]

    def validation_quality(self, task: str, preset: str, seed: str) -> tuple[float, float]:
        """What a tuned row is selected by: (robust accuracy expected over K, accuracy) on
        validation, under the main Q_x."""
        val = self.unit(task, preset, seed, "validation")
        every_item = np.arange(val.correct.size)[None]
        return float(_robust(val)(every_item)[0]), float(_accuracy(val)(every_item)[0])

    def has(self, task: str, preset: str, seed: str, split: str) -> bool:
        """Whether ``preset`` (a plain preset or grid point) on ``seed`` was scored on ``split``."""
        return self.pack(task, preset, seed, split).exists()

    def unit(self, task: str, preset: str, seed: str, split: str) -> Scored:
        key = (task, preset, seed, split)
        if key not in self._scored:
            scored = score_columns(read_columns(self.pack(task, preset, seed, split)))
            # a second Q_x setting ("test.token") is fitted on validation under the same setting
            val = "validation" + split[len(split.split(".")[0]):]
            if split != val and self.has(task, preset, seed, val):
                fit = (task, preset, seed, val)
                if fit not in self._fits:
                    self._fits[fit] = fit_validation(self.unit(*fit))
                self._fits[fit].apply(scored)
            self._scored[key] = scored
        return self._scored[key]

    def seed_draws(self, task: str, preset: str, split: str, metric: str, score: str | None,
                   seed: str) -> Draws:
        """``metric`` of one seed's unit on all items and on the :data:`N_RESAMPLES` item
        resamples, computed once per resolved unit (the same statistic enters several claims, and
        a tuned row with one grid point is that point's row)."""
        name = self.resolve(task, preset, seed)
        key = (task, name, split, metric, str(score), seed)
        if key not in self._draws:
            unit = self.unit(task, name, seed, split)
            self._draws[key] = draw(METRICS[metric](unit, score), unit.correct.size, n_resamples=N_RESAMPLES)
        return self._draws[key]

    def draws(self, task: str, preset: str, split: str, metric: str, score: str | None,
              seeds: list[str]) -> Draws:
        """:meth:`seed_draws` pooled over ``seeds`` (:func:`~sua.eval.intervals.pool_seeds`),
        which must have scored the same items."""
        ids = [self.unit(task, self.resolve(task, preset, s), s, split).columns.ids for s in seeds]
        if any(not np.array_equal(i, ids[0]) for i in ids):
            raise SUAInputError(f"{task}/{preset}/{split}: seeds were scored on different items")
        return pool_seeds([self.seed_draws(task, preset, split, metric, score, s) for s in seeds])


@dataclass(frozen=True)
class Claim:
    """A comparative claim: ``metric(a) − metric(b)`` on ``split``, positive when it holds."""

    claim: str
    task: str
    split: str
    metric: str
    a: tuple[str, str | None]      # (preset, failure score or None)
    b: tuple[str, str | None]


#: Failure scores compared with entropy on every split, and how the claims name them.
AGAINST_ENTROPY = (("SUA (λ=1)", "SUA (λ = 1)"), ("SUA (λ val)", "SUA (λ chosen on validation)"),
                   ("S", "sensitivity S alone"),
                   ("logistic (H + rewrites)", "entropy + what only rewrites reveal (logistic)"),
                   ("1 − self-consistency", "self-consistency"))


#: Table 2's baselines, each ranking failures by its own score (``(preset, score, name)``); AT's
#: preset is swapped for its tuned row beside the tuned SUA-TR.
TABLE2_BASELINES = (("standard", "1 − max p", "Standard training"), ("at", "1 − max p", "AT"),
                    ("standard", "1 − max p (TS)", "temperature scaling"),
                    ("standard", "1 − self-consistency", "self-consistency"))
#: Table 3's comparisons ``(a, b, claim)``, each positive when the paper's reading holds: the full
#: SUA-TR beats each ablation, and K = 8 training rewrites beat K = 4. The paper reads K = 16 as
#: "essentially the same" as K = 8, which no sign states: its row is K = 16 minus K = 8, so an
#: interval containing 0 agrees with the paper and a verdict either way does not.
TABLE3_PAIRS = (("sua-tr", "sua-tr-no-cons", "SUA-TR (full) beats SUA-TR without L_cons"),
                ("sua-tr", "sua-tr-no-align", "SUA-TR (full) beats SUA-TR without L_align"),
                ("sua-tr", "sua-tr-adv-only", "SUA-TR (full) beats SUA-TR on adversarial rewrites only"),
                ("sua-tr", "sua-tr-para-only", "SUA-TR (full) beats SUA-TR on paraphrases only"),
                ("sua-tr-k8", "sua-tr-k4", "SUA-TR with K = 8 training rewrites beats K = 4"),
                ("sua-tr-k16", "sua-tr-k8", "SUA-TR with K = 16 training rewrites beats K = 8 "
                 "(the paper: about the same)"))
#: Appendix B.2's comparisons, "the full mixture outperforms any single perturbation type across
#: all metrics": SUA-TR trained on the mixture Q_x against SUA-TR trained on one family (token
#: edits: the default preset).
B2_PAIRS = (("sua-tr-mixture", "sua-tr", "SUA-TR trained on the mixture beats training on token edits only"),
            ("sua-tr-mixture", "sua-tr-para-only", "SUA-TR trained on the mixture beats training on "
             "paraphrases only"),
            ("sua-tr-mixture", "sua-tr-adv-only", "SUA-TR trained on the mixture beats training on "
             "adversarial rewrites only"))
#: Table 3's (and B.2's) columns besides Acc: (metric, failure score); ECE is signed as b's minus a's.
TABLE3_METRICS = (("Rob. Acc", None), ("ECE", None), ("AUROC", "SUA (λ=1)"), ("Sel. Acc (80%)", "SUA (λ=1)"))


def table3_claims(task: str) -> list[Claim]:
    """Table 3's and Appendix B.2's readings on ``task``'s in-domain test (main Q_x): each
    :data:`TABLE3_PAIRS` and :data:`B2_PAIRS` difference on each :data:`TABLE3_METRICS` column,
    failures ranked by SUA (λ = 1) as the paper's table does."""
    out = []
    for pairs, source in ((TABLE3_PAIRS, "Table 3"), (B2_PAIRS, "App. B.2")):
        for a, b, text in pairs:
            for metric, score in TABLE3_METRICS:
                first, second = ((b, score), (a, score)) if metric == "ECE" else ((a, score), (b, score))
                out.append(Claim(f"{text} ({source})", task, "test", metric, first, second))
    return out


def paper_claims(tasks: list[str], splits: dict[str, list[str]]) -> list[Claim]:
    """The paper's comparative claims (and the beyond-the-paper combined score) that the packed
    units can test, on every task and split they cover; :func:`in_domain_claims` on the in-domain
    test (both Q_x settings) and Table 3 (:func:`table3_claims`) where they were run."""
    std = "standard"
    out = []
    for task in tasks:
        if "test" in splits[task]:
            out += table3_claims(task)
        for split in splits[task]:
            if split.startswith("validation"):
                continue
            for score, text in AGAINST_ENTROPY:
                out.append(Claim(f"{text} ranks failures better than entropy", task, split, "AUROC",
                                 (std, score), (std, "entropy")))
            out.append(Claim("SUA (λ = 1) gives the best selective accuracy at 80 % coverage", task, split,
                             "Sel. Acc (80%)", (std, "SUA (λ=1)"), (std, "1 − max p")))
            out.append(Claim("SUA (λ = 1) ranks failures better than self-consistency", task, split,
                             "AUROC", (std, "SUA (λ=1)"), (std, "1 − self-consistency")))
            for coverage in COVERAGES:
                percent = round(coverage * 100)
                out.append(Claim(f"SUA (λ = 1) abstention beats entropy abstention at {percent} % coverage "
                                 "(App. B.4)", task, split, _selective_metric(coverage),
                                 (std, "SUA (λ=1)"), (std, "entropy")))
            for tag, sua_tr, at in (("", "sua-tr", "at"), (" (both tuned on validation)",
                                                          *(family + TUNED for family in TUNED_FAMILIES))):
                for metric in ("Rob. Acc", "Rob. Acc (worst-of-K)"):
                    out.append(Claim(f"SUA-TR raises robust accuracy above AT{tag}", task, split, metric,
                                     (sua_tr, None), (at, None)))
                    out.append(Claim(f"SUA-TR raises robust accuracy above Standard training{tag}", task,
                                     split, metric, (sua_tr, None), (std, None)))
                out.append(Claim(f"SUA-TR lowers ECE below Standard training{tag}", task, split, "ECE",
                                 (std, None), (sua_tr, None)))
                out.append(Claim(f"SUA-TR lowers ECE more than temperature scaling{tag}", task, split, "ECE",
                                 (std, "1 − max p (TS)"), (sua_tr, None)))
                out.append(Claim(f"SUA-TR keeps accuracy (difference to Standard){tag}", task, split, "Acc",
                                 (sua_tr, None), (std, None)))
                if split.split(".")[0] == "test":
                    out += in_domain_claims(task, split, sua_tr, at, tag)
    return out


def in_domain_claims(task: str, split: str, sua_tr: str, at: str, tag: str) -> list[Claim]:
    """The claims made on the in-domain test only. Table 2's AUROC and Sel. Acc (80 %) columns:
    SUA-TR (``sua_tr``, its plain or tuned row) ranking failures by SUA (λ = 1) against each of
    :data:`TABLE2_BASELINES` by its own score (AT as ``at``). The mechanism: SUA-TR's mean
    sensitivity S below Standard's. Beyond the paper, once on the main Q_x's test: whether SUA-TR
    training makes entropy rank failures better."""
    out = [Claim(f"SUA-TR lowers the model's mean sensitivity S below Standard training's{tag}", task, split,
                 "mean", ("standard", "S"), (sua_tr, "S"))]
    for preset, score, name in TABLE2_BASELINES:
        base = (at if preset == "at" else preset, score)
        out.append(Claim(f"SUA-TR with its SUA score ranks failures better than {name}{tag}",
                         task, split, "AUROC", (sua_tr, "SUA (λ=1)"), base))
        out.append(Claim(f"SUA-TR with its SUA score abstains better than {name} at 80 % coverage{tag}",
                         task, split, "Sel. Acc (80%)", (sua_tr, "SUA (λ=1)"), base))
    if split == "test":  # entropy reads no rewrite: the same under either Q_x
        out.append(Claim(f"SUA-TR training makes entropy rank failures better than Standard training "
                         f"(beyond the paper){tag}", task, split, "AUROC", (sua_tr, "entropy"),
                         ("standard", "entropy")))
    return out


def evaluate_claim(results: Results, claim: Claim) -> dict[str, Any] | None:
    """The claim's paired difference with its interval and verdict, or ``None`` when the packed
    units lack a side (a preset not run, a score not computed)."""
    (pa, sa), (pb, sb) = claim.a, claim.b
    seeds = sorted(set(results.seeds(claim.task, pa, claim.split))
                   & set(results.seeds(claim.task, pb, claim.split)))
    if not seeds:
        return None
    chosen = {}
    for preset, score in ((pa, sa), (pb, sb)):
        try:
            chosen[preset] = {s: results.resolve(claim.task, preset, s) for s in seeds}
        except SUAInputError:
            return None
        unit = results.unit(claim.task, chosen[preset][seeds[0]], seeds[0], claim.split)
        if score is not None and score not in unit.scores:
            return None
    a = results.draws(claim.task, pa, claim.split, claim.metric, sa, seeds)
    b = results.draws(claim.task, pb, claim.split, claim.metric, sb, seeds)
    n = a.n_items
    paired = a - b
    diff = paired.interval()
    side = {"a": a.interval(), "b": b.interval()}
    per_seed = [results.seed_draws(claim.task, pa, claim.split, claim.metric, sa, s).value
                - results.seed_draws(claim.task, pb, claim.split, claim.metric, sb, s).value for s in seeds]
    name = lambda preset, score: f"{preset}" + (f" · {score}" if score else "")  # noqa: E731
    return finite_or_none({
            "claim": claim.claim, "task": claim.task, "split": claim.split, "metric": claim.metric,
            "a": name(pa, sa), "b": name(pb, sb), "a_value": side["a"].value, "b_value": side["b"].value,
            "a_ci": [side["a"].ci_low, side["a"].ci_high], "b_ci": [side["b"].ci_low, side["b"].ci_high],
            "value": diff.value, "ci_low": diff.ci_low, "ci_high": diff.ci_high, "verdict": diff.verdict,
            "p_value": paired.p_value(), "per_seed": per_seed,
            "n_items": n, "seeds": [int(s.removeprefix("seed")) for s in seeds],
            "n_resamples": diff.n_resamples, "undefined_resamples": diff.undefined,
            "units": {p: c for p, c in chosen.items() if p.endswith(TUNED)},
            "candidates": {p: results.candidates(claim.task, p.removesuffix(TUNED))
                           for p in chosen if p.endswith(TUNED)}})


def claim_groups(claims: Sequence[Claim]) -> list[list[int]]:
    """The claims' indices grouped by (task, split), the unit of work of a derivation's processes
    (a group's claims share its units, fits and draws): the largest group first, then by size,
    equal sizes in order of first appearance, so the grouping is the same on every run."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, claim in enumerate(claims):
        groups.setdefault((claim.task, claim.split), []).append(i)
    return sorted(groups.values(), key=len, reverse=True)


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """torch on one intra-op thread, restored on exit. The derivation's tensors are small (one
    split's items × K rewrites), so a second thread only adds its synchronisation: a ``log`` over
    them cost 0.8 ms with two threads against 0.06 ms with one on a busy 2-core machine, and a
    whole derivation of 25 units in one process 72 s against 60 s (medians of 3 paired runs).
    Its parallelism is its processes (``workers``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@lru_cache(maxsize=1)
def _helper_results(folder: str) -> Results:
    """A helper process's :class:`Results` of ``folder``, opened on its first group: its caches
    (units, validation fits, draws) serve every later group it evaluates."""
    return Results(folder)


def _evaluate_group(folder: str, claims: list[Claim]) -> list[dict[str, Any] | None]:
    """:func:`evaluate_claim` on each claim, in a helper process of :func:`derive`."""
    with _one_torch_thread():
        return [evaluate_claim(_helper_results(folder), claim) for claim in claims]


def derive(folder: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
           workers: int = 1) -> dict[str, Path]:
    """Write ``claims.json``, ``summary.json`` (with the human-uncertainty checks, read against
    ``data_dir``, default :func:`~sua.eval.data.default_data_dir`) and ``evidence.md`` into
    ``folder``'s parent from the packed units in ``folder``; return their paths. With
    ``workers > 1`` the claims' (task, split) groups (:func:`claim_groups`) are shared out among
    that many processes, this one among them, started by ``spawn`` (a script calling this must do
    so under ``if __name__ == "__main__":``); the files are the same for any ``workers``."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from sua.eval.data import default_data_dir

    if workers < 1:
        raise SUAInputError(f"workers must be at least 1; got {workers}")
    results = Results(folder)
    root = results.dir
    meta = json.loads((root / "run.json").read_text(encoding="utf-8"))
    profile = meta["profile"]
    tasks = sorted(p.name for p in (root / "units").iterdir() if p.is_dir())
    splits = {t: sorted({p.stem for p in (root / "units" / t).glob("*/seed*/*.npz")}) for t in tasks}
    planned = paper_claims(tasks, splits)
    groups = claim_groups(planned)
    # The largest group (the in-domain test, whose draws the summary computes too) is this
    # process's; the helpers take the others, largest first, while it computes the summary,
    # and it then takes back, smallest first, those no helper has started.
    pool = ProcessPoolExecutor(workers - 1, mp_context=get_context("spawn")) \
        if workers > 1 and len(groups) > 1 else None
    with pool or nullcontext(), _one_torch_thread():
        futures = [pool.submit(_evaluate_group, str(root), [planned[i] for i in group])
                   for group in groups[1:]] if pool else []
        summary = _summary(results, profile, tasks)
        human = finite_or_none(human_uncertainty(results, data_dir or default_data_dir()))
        if human:
            summary.setdefault("nli", {})["human_uncertainty"] = human
        outcomes = {0: [evaluate_claim(results, planned[i]) for i in groups[0]]} if groups else {}
        for j in range(len(groups) - 1, 0, -1):
            if pool and not futures[j - 1].cancel():
                break  # this one and all before it are running or done
            outcomes[j] = [evaluate_claim(results, planned[i]) for i in groups[j]]
        outcomes |= {j: future.result() for j, future in enumerate(futures, 1) if j not in outcomes}
    evaluated = dict(pair for j, group in enumerate(groups)
                     for pair in zip(group, outcomes[j], strict=True))
    claims = [c for _, c in sorted(evaluated.items()) if c]
    adjusted, verdicts = fdr_verdicts([c["value"] for c in claims], [c["p_value"] for c in claims])
    for c, p_fdr, v in zip(claims, adjusted, verdicts, strict=True):
        c["p_fdr"], c["verdict_fdr"] = finite_or_none(p_fdr), v
    out = {"claims": root.parent / "claims.json", "summary": root.parent / "summary.json",
           "evidence": root.parent / "evidence.md"}
    for key, value in (("claims", claims), ("summary", finite_or_none(summary))):
        text = json.dumps(value, indent=1, ensure_ascii=False, allow_nan=False)
        out[key].write_text(text, encoding="utf-8")
    out["evidence"].write_text(_markdown(claims, summary, human, root), encoding="utf-8")
    if any((root / "curves").glob("*.json")):
        out["curves"] = plot_curves(root / "curves", root.parent / "learning_curves.png")
    if summary:
        out["figure2"] = plot_figure2(summary, root.parent / "figure2_auroc.png")
    return out


def _summary(results: Results, profile: dict[str, Any], tasks: list[str]) -> dict[str, Any]:
    """Per task with a Standard test unit: in-domain accuracy (QA: F1 and exact match) with its
    interval, test size, Q_x setting, robust accuracy, K agreement, the λ sweep, Figure 2, the method rows,
    the tuned rows and the run's coverage."""
    summary: dict[str, Any] = {}
    for task in tasks:
        seeds = results.seeds(task, "standard", "test")
        if not seeds:
            continue
        units = [results.unit(task, "standard", s, "test") for s in seeds]
        acc = bootstrap(seed_mean([_accuracy(u) for u in units]), units[0].correct.size,
                        n_resamples=N_RESAMPLES)
        entry: dict[str, Any] = {"accuracy": acc.value, "accuracy_ci": [acc.ci_low, acc.ci_high],
                                 "n_test": int(units[0].correct.size), "seeds": [int(s[4:]) for s in seeds],
                                 "qx": profile["perturber"], "k": profile["k"],
                                 "families_drawn": sorted(set(units[0].columns.families.tolist()))}
        entry["robust_accuracy"] = _robust_accuracy(results, task, seeds)
        entry["k_agreement"] = k_agreement(results, task, seeds)
        lams = profile.get("appendix_b", {}).get("lam_grid", LAM_GRID)
        entry["lambda_sweep"] = lambda_sweep(results, task, lams)
        entry["figure2"] = figure2(results, task)
        entry["methods"] = method_rows(results, task)
        entry["tuning"] = tuning(results, task, profile.get("seeds", []))
        entry["coverage"] = coverage(results, profile, task)
        if units[0].columns.f1 is not None:
            f1 = bootstrap(seed_mean([_f1(u) for u in units]), units[0].correct.size, n_resamples=N_RESAMPLES)
            entry["f1"], entry["f1_ci"] = f1.value, [f1.ci_low, f1.ci_high]
            entry["exact_match"] = entry["accuracy"]
        summary[task] = entry
    return summary


def _robust_accuracy(results: Results, task: str, seeds: list[str]) -> dict[str, dict[str, list[float]]]:
    """Standard training's in-domain robust accuracy under each Q_x setting scored (``main``: the
    profile's; ``test.<setting>``; ``adversarial only``: the ``test_adversarial`` split): expected
    over the K rewrites and worst-of-K, each as ``[value, ci_low, ci_high]`` (seeds pooled)."""
    out = {}
    for split in sorted({p.stem for s in seeds
                         for p in (results.dir / "units" / task / "standard" / s).glob("test*.npz")}):
        base, _, qx = split.partition(".")
        setting = ((qx or "main") if base == "test"
                   else "adversarial only" if split == "test_adversarial" else None)
        if setting is None or set(results.seeds(task, "standard", split)) != set(seeds):
            continue
        out[setting] = {}
        for kind, metric in (("expected", "Rob. Acc"), ("worst_of_k", "Rob. Acc (worst-of-K)")):
            iv = results.draws(task, "standard", split, metric, None, seeds).interval()
            out[setting][kind] = [iv.value, iv.ci_low, iv.ci_high]
    return out


#: The columns of :func:`method_rows`: (name, metric, failure score).
ROW_METRICS = (("Acc", "Acc", None), ("Rob. Acc", "Rob. Acc", None),
               ("Rob. Acc (worst-of-K)", "Rob. Acc (worst-of-K)", None), ("ECE", "ECE", None),
               ("AUROC (entropy)", "AUROC", "entropy"), ("AUROC (SUA λ=1)", "AUROC", "SUA (λ=1)"),
               ("Sel. Acc 80% (entropy)", "Sel. Acc (80%)", "entropy"),
               ("Sel. Acc 80% (SUA λ=1)", "Sel. Acc (80%)", "SUA (λ=1)"))


def method_rows(results: Results, task: str, split: str = "test",
                presets: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Table 2 / Table 3 rows: every preset (training method, ablation or grid point; or those of
    ``presets``) scored on the in-domain ``split``, each :data:`ROW_METRICS` column as
    ``[value, ci_low, ci_high]`` over that preset's own seeds (pooled), with the seeds."""
    rows = {}
    if presets is None:
        presets = sorted(p.name for p in (results.dir / "units" / task).iterdir() if p.is_dir())
    for preset in presets:
        seeds = results.seeds(task, preset, split)
        if not seeds:
            continue
        row: dict[str, Any] = {"seeds": [int(s.removeprefix("seed")) for s in seeds]}
        unit = results.unit(task, preset, seeds[0], split)
        for name, metric, score in ROW_METRICS:
            if score is not None and score not in unit.scores:
                continue
            iv = results.draws(task, preset, split, metric, score, seeds).interval()
            row[name] = [iv.value, iv.ci_low, iv.ci_high]
        rows[preset] = row
    return rows


#: Figure 2's failure scores: the paper's four (SUA, self-consistency, entropy, temperature-scaled
#: confidence), then S alone, SUA with λ chosen on validation and the logistic combination.
FIGURE2_SCORES = ("SUA (λ=1)", "1 − self-consistency", "entropy", "1 − max p (TS)", "S", "SUA (λ val)",
                  "logistic (H + rewrites)")


def figure2(results: Results, task: str) -> dict[str, dict[str, Any]]:
    """Figure 2: the failure-prediction AUROC, P(score(wrong) > score(right)), of each
    :data:`FIGURE2_SCORES` score a unit has, for Standard training under the main Q_x, on every
    split but validation (where λ, the logistic and the temperature are fitted), in the task's
    split order: per split its ``n_items``, ``seeds`` and ``auroc`` {score: ``[value, ci_low,
    ci_high]``} over the seeds that scored it (pooled)."""
    out = {}
    for split in load_task(task).splits:
        seeds = results.seeds(task, "standard", split)
        if split == "validation" or not seeds:
            continue
        unit = results.unit(task, "standard", seeds[0], split)
        auroc = {}
        for score in FIGURE2_SCORES:
            if score in unit.scores:
                iv = results.draws(task, "standard", split, "AUROC", score, seeds).interval()
                auroc[score] = [iv.value, iv.ci_low, iv.ci_high]
        out[split] = {"n_items": int(unit.correct.size),
                      "seeds": [int(s.removeprefix("seed")) for s in seeds], "auroc": auroc}
    return out


def tuning(results: Results, task: str, seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Per family of :data:`TUNED_FAMILIES` that was validated: its candidates (the preset and
    its grid points), each with its validation rows (:func:`method_rows` on ``validation``), the
    point chosen (:meth:`Results.selection`) with the seed it was chosen on and its validation
    (robust accuracy, accuracy), and the planned ``seeds`` on which that point is not yet scored
    on the in-domain test (its tuned claims wait for those units)."""
    out = {}
    for family in TUNED_FAMILIES:
        chosen = results.selection(task, family)
        if chosen is None:
            continue
        seed, name = chosen
        rows = method_rows(results, task, "validation", results.candidates(task, family))
        out[family] = {"candidates": rows,
                       "chosen": {"seed": seed, "preset": name,
                                  "validation": list(results.validation_quality(task, name, seed))},
                       "pending_test": [s for s in (f"seed{i}" for i in seeds)
                                        if not results.has(task, name, s, "test")]}
    return out


#: The splits of each unit scope, by role (``None``: every split but train).
SCOPE_ROLES: dict[str, tuple[str, ...] | None] = {
    "all": None, "validation": ("validation",), "in-domain": ("validation", "in-domain")}


def planned_units(profile: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """Every unit an evidence profile asks for, as ``(task, preset, seed, scope)``: each Table 2
    method on every task and seed (scope ``all``: every split), each grid point of
    :data:`TUNED_FAMILIES` on the first seed (scope ``validation``: where the tuned row is
    selected, :meth:`Results.selection`) and each Table 3 preset on its task and seeds (scope
    ``in-domain``: validation, where λ and temperature scaling are fitted, and the in-domain test,
    the paper's Table 3; a preset already planned on every split is not planned again), and so
    each Appendix B.2 preset (``appendix_b.b2_presets`` on ``appendix_b.task_b2``, Table 3's seeds).
    The chosen grid point on every seed is planned by :func:`coverage` once it is known. A profile
    without some of these keys plans none of those units."""
    out = []
    seeds = profile.get("seeds", [])
    for task in profile.get("tasks", {}):
        for method in profile.get("methods", []):
            out += [(task, method, seed, "all") for seed in seeds]
        for family, points in profile.get("grid", {}).items():
            out += [(task, f"{family}@{point}", seed, "validation") for point in points for seed in seeds[:1]]
    table3, appendix_b = profile.get("table3"), profile.get("appendix_b")
    if table3:
        ablations = [(table3["task"], preset) for preset in table3["presets"]]
        if appendix_b:
            ablations += [(appendix_b["task_b2"], preset) for preset in appendix_b["b2_presets"]]
        out += [(task, preset, seed, "in-domain") for task, preset in ablations for seed in table3["seeds"]
                if (task, preset, seed, "all") not in out]
    return list(dict.fromkeys(out))


def expected_packs(task: str, second_qx: str | None, roles: Sequence[str] | None = None) -> list[str]:
    """The packs a unit scored on every split (or on the splits of ``roles``) has: each split
    but ``train``, and for a split scored under the profile's Q_x also ``<split>.<second_qx>``
    (:func:`run_unit`)."""
    spec = load_task(task)
    return [name for s in spec.splits.values() if s.role != "train" and (roles is None or s.role in roles)
            for name in ([s.name] if s.perturber or not second_qx else [s.name, f"{s.name}.{second_qx}"])]


def coverage(results: Results, profile: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """What of ``profile``'s :func:`planned_units` on ``task``, and of each chosen grid point on
    every seed, has landed in ``results``: per (preset, scope), the seeds planned, those with
    every pack of their scope (``landed``) and those with only some (``partial``, e.g. a Table 2
    unit scored on validation so far)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    second = profile.get("second_qx")
    packs_of = {scope: expected_packs(task, second, roles) for scope, roles in SCOPE_ROLES.items()}
    planned = [u[1:] for u in planned_units(profile) if u[0] == task]
    for family in TUNED_FAMILIES:
        chosen = results.selection(task, family)
        if chosen is not None and chosen[1] != family:
            planned += [(chosen[1], seed, "all") for seed in profile.get("seeds", [])]
    for preset, seed, scope in planned:
        have = [results.has(task, preset, f"seed{seed}", name) for name in packs_of[scope]]
        row = rows.setdefault((preset, scope), {"preset": preset, "scope": scope, "planned": [], "landed": [],
                                                "partial": []})
        row["planned"].append(seed)
        if all(have):
            row["landed"].append(seed)
        elif any(have):
            row["partial"].append(seed)
    return list(rows.values())


#: Draws per half in :func:`k_agreement` (two disjoint halves of the packed K rewrites).
K_HALVES = (1, 2, 4)


def k_agreement(results: Results, task: str, seeds: list[str], split: str = "test") -> list[dict[str, Any]]:
    """Appendix B.1 from the packed rewrites: how stable a k-draw estimate is. The K rewrites of
    each item are put in a seeded random order (the packs keep them grouped by family), and for
    each k of :data:`K_HALVES` with 2k ≤ K, S and SUA (λ = 1) are estimated twice per item from
    disjoint draws (the first k and the next k) and the Spearman ρ of the two estimates is
    reported (seeds pooled, bootstrap interval). Two independent noisy estimates of a score
    correlate about as the square of each one's correlation with the exact score, so ``√ρ``
    approximates the paper's "ρ against a large-K reference" (which needs K = 32 draws) for k
    draws, and ``√(2ρ / (1 + ρ))`` (Spearman–Brown) for 2k draws."""
    halves = []
    for u in (results.unit(task, "standard", s, split) for s in seeds):
        d = _per_rewrite_divergence(u.columns)[u.columns.correct >= 0]
        order = np.argsort(np.random.default_rng(0).random(d.shape), axis=1)
        halves.append((np.take_along_axis(d, order, axis=1), u.scores["entropy"]))
    rows = []
    for k in (k for k in K_HALVES if 2 * k <= min(d.shape[1] for d, _ in halves)):
        for name, lam in (("S", 0.0), ("SUA (λ=1)", 1.0)):
            ranked = [(TiedRanks.of(d[:, :k].mean(1) - lam * h),
                       TiedRanks.of(d[:, k:2 * k].mean(1) - lam * h)) for d, h in halves]
            rho = seed_mean([lambda rows, a=a, b=b: spearman_rows(a, b, rows) for a, b in ranked])
            iv = bootstrap(rho, halves[0][1].size, n_resamples=N_RESAMPLES)
            r = max(iv.value, 0.0)
            rows.append({"k": k, "score": name, "split": split, "rho": iv.value,
                         "ci": [iv.ci_low, iv.ci_high],
                         "implied_rho_vs_exact": float(np.sqrt(r)),
                         "implied_rho_vs_exact_2k": float(np.sqrt(2 * r / (1 + r)))})
    return rows


#: The trained rows of :func:`lambda_sweep`: (preset, name).
SWEEP_PRESETS = (("standard", "Standard"), ("sua-tr", "SUA-TR"))


def lambda_sweep(results: Results, task: str, lams: Sequence[float],
                 split: str = "test") -> list[dict[str, Any]]:
    """Appendix B.3 at scoring time: the failure AUROC of SUA_λ(x) = S(x) − λ·H(x) for each λ of
    ``lams`` (the profile's ``appendix_b.lam_grid``) on the in-domain test under the main Q_x, for
    each :data:`SWEEP_PRESETS` row scored there, seeds pooled with a bootstrap interval; per row
    its ``preset``, ``seeds`` and ``auroc`` (``[λ, value, ci_low, ci_high]`` per λ). λ = 0 is S
    alone; as λ grows the ranking tends to −H, which ranks failures backwards."""
    rows = []
    for preset, name in SWEEP_PRESETS:
        seeds = results.seeds(task, preset, split)
        if not seeds:
            continue
        units = [results.unit(task, preset, s, split) for s in seeds]
        auroc = []
        for lam in lams:
            stats = [_auroc_of(u, np.asarray(sua_score(u.scores["S"], u.scores["entropy"], lam)))
                     for u in units]
            iv = bootstrap(seed_mean(stats), units[0].correct.size, n_resamples=N_RESAMPLES)
            auroc.append([float(lam), iv.value, iv.ci_low, iv.ci_high])
        rows.append({"preset": preset, "name": name, "seeds": [int(s.removeprefix("seed")) for s in seeds],
                     "auroc": auroc})
    return rows


def plot_curves(folder: Path, out: Path) -> Path:
    """Validation accuracy (extractive QA: exact match) along training, one panel per task, a
    line per (preset, seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
    tasks = sorted({name.split("-", 1)[0] for name in curves})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for name, curve in curves.items():
            if name.split("-", 1)[0] == task:
                ax.plot([c["epoch"] for c in curve], [c["accuracy"] for c in curve], marker=".",
                        label=name.split("-", 1)[1])
        metric = "exact match" if load_task(task).kind == "qa" else "accuracy"
        ax.set(title=f"{task}: validation {metric}", xlabel="epoch", ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_figure2(summary: dict[str, Any], out: Path) -> Path:
    """Figure 2 (:func:`figure2`) as grouped bars: a panel per task, a group per split, a bar per
    failure score, its 95 % interval as the error bar, chance (0.5) dotted."""
    import matplotlib.style

    from sua.eval.report.figures import figure2_figure, save_png

    rows = [{"keys": {"Task": task, "Split": split, "Score": score},
             "cells": {"AUROC": {"mean": value, "ci": [low, high]}}}
            for task, entry in summary.items() for split, row in entry.get("figure2", {}).items()
            for score, (value, low, high) in row["auroc"].items()]
    table = {"id": "figure2", "key_columns": ["Task", "Split", "Score"], "columns": ["AUROC"], "rows": rows}
    with matplotlib.style.context("default"):
        save_png(figure2_figure(table), out)
    return out


# -- real human uncertainty ----------------------------------------------------------------

#: Per-item human signals in the data: split -> (data file, field, how it becomes "uncertainty").
HUMAN_SIGNALS = {
    "mnli": ("nli/mnli/dev_matched.jsonl", "bert_correct_of_100",
             "1 − bert_correct_of_100 / 100 (share of 100 fine-tuned BERT runs that got the item wrong)"),
    "ambient": ("nli/ambient/test.jsonl", "label_dist", "entropy of the crowd label distribution"),
}


def _signal(row: dict[str, Any], field: str) -> float | None:
    value = row.get(field)
    if value is None:
        return None
    if field == "label_dist":
        return float(entropy(np.array(list(value.values()), dtype=np.float64)))
    return 1.0 - float(value) / 100.0


def human_uncertainty(results: Results, data_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Spearman ρ of S, H, SUA (λ = 1), 1 − max p and the ambiguity proxy with each human signal
    (:data:`HUMAN_SIGNALS`), seeds pooled, with bootstrap intervals; the mean signal on the items
    flagged *ambiguity collapse* against the others; and, on AmbiEnt, Lemma 4.6 with the crowd
    label entropy as H*."""
    from sua.selective import lemma_4_6

    rows = []
    for split, (source, field, meaning) in HUMAN_SIGNALS.items():
        seeds = results.seeds("nli", "standard", split)
        path = Path(data_dir) / source
        if not seeds or not path.exists():
            continue
        signal_of = {str(row["id"]): _signal(row, field) for _, row in read_jsonl(path)}
        units = [results.unit("nli", "standard", seed, split) for seed in seeds]
        known = np.array([signal_of.get(str(i)) is not None for i in units[0].ids])
        if not known.any():  # the split's items are not the signal file's (another data version)
            continue
        signal = np.array([signal_of[str(i)] for i in units[0].ids[known]], dtype=np.float64)
        n, signal_ranks = int(known.sum()), TiedRanks.of(signal)
        entry: dict[str, Any] = {"split": split, "signal": meaning, "n_items": n,
                                 "seeds": [int(s.removeprefix("seed")) for s in seeds], "spearman": {}}
        named = {"S": lambda u: u.scores["S"], "H": lambda u: u.scores["entropy"],
                 "SUA (λ=1)": lambda u: u.scores["SUA (λ=1)"], "1 − max p": lambda u: u.scores["1 − max p"],
                 "ambiguity proxy": lambda u: u.ambiguity}
        for name, get in named.items():
            ranked = [TiedRanks.of(get(u)[known]) for u in units]
            rho = seed_mean([lambda rows, v=v, y=signal_ranks: spearman_rows(v, y, rows) for v in ranked])
            entry["spearman"][name] = bootstrap(rho, n, n_resamples=N_RESAMPLES).to_dict()
        flagged = np.mean([signature(u.scores["S"], u.scores["entropy"], u.ambiguity)[known]
                           == "ambiguity_collapse" for u in units], axis=0) >= 0.5
        entry["ambiguity_collapse"] = {
            "n_flagged": int(flagged.sum()),
            "mean_signal_flagged": float(signal[flagged].mean()) if flagged.any() else None,
            "mean_signal_others": float(signal[~flagged].mean()) if (~flagged).any() else None}
        if field == "label_dist":
            check = lemma_4_6(signal, units[0].ambiguity[known], units[0].scores["entropy"][known])
            entry["lemma_4_6"] = {"share_holds": check.share_holds, "mean_slack": check.mean_slack,
                                  "min_slack": check.min_slack, "seed": entry["seeds"][0]}
        rows.append(entry)
    return rows


def _f(value: float | None, spec: str = ".3f") -> str:
    """A number for the tables; ``—`` where it is undefined."""
    return "—" if value is None else format(value, spec)


def _interval(cells: list[float | None]) -> str:
    """``value [low, high]`` of a ``[value, ci_low, ci_high]`` list."""
    value, low, high = cells
    return f"{_f(value)} [{_f(low)}, {_f(high)}]"


def _accuracy_section(summary: dict[str, Any]) -> list[str]:
    lines = ["## Accuracy per task (in-domain test, Standard training)", "",
             "| task | accuracy (QA: exact match) [95 % CI] | n test | seeds | Q_x | families drawn | "
             "robust accuracy: expected / worst-of-K [95 % CI] |",
             "|---|---|---|---|---|---|---|"]
    for task, e in summary.items():
        if "accuracy" not in e:
            continue
        robust = "; ".join(f"{e['qx'] if setting == 'main' else setting}: "
                           f"{_interval(r['expected'])} / {_interval(r['worst_of_k'])}"
                           for setting, r in e.get("robust_accuracy", {}).items())
        f1 = f"; F1 {_interval([e['f1'], *e['f1_ci']])}" if "f1" in e else ""
        lines.append(f"| {task} | {_interval([e['accuracy'], *e['accuracy_ci']])}{f1} | {e['n_test']} | "
                     f"{len(e['seeds'])} | {e['qx']} (K = {e['k']}) | {', '.join(e['families_drawn'])} | "
                     f"{robust} |")
    return lines


def _claims_section(claims: list[dict[str, Any]]) -> list[str]:
    lines = ["## Claims", "",
             "| claim | task / split | metric | A | B | A − B [95 % CI] | verdict | FDR verdict (q) | n "
             "| seeds | A − B per seed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in claims:
        lines.append(f"| {c['claim']} | {c['task']} / {c['split']} | {c['metric']} | "
                     f"{c['a']}: {_f(c['a_value'])} | {c['b']}: {_f(c['b_value'])} | "
                     f"{_f(c['value'], '+.3f')} [{_f(c['ci_low'], '+.3f')}, {_f(c['ci_high'], '+.3f')}] | "
                     f"**{c['verdict']}** | {c['verdict_fdr']} ({_f(c['p_fdr'])}) | {c['n_items']} | "
                     f"{len(c['seeds'])} | {' / '.join(_f(v, '+.3f') for v in c['per_seed'])} |")
    return lines


def _glance_section(claims: list[dict[str, Any]]) -> list[str]:
    """Per claim and task: how many of its splits and metrics hold, fail or stay open, before and
    after FDR control, and the range of its differences."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in claims:
        groups.setdefault((c["claim"], c["task"]), []).append(c)
    lines = ["## Claims at a glance", "",
             "Each claim over the splits and metrics it was tested on (the rows of *Claims* below): "
             "verdict counts, after FDR control in brackets, and the smallest and largest difference.", "",
             "| claim | task | tested | held | not held | inconclusive | A − B from … to |",
             "|---|---|---|---|---|---|---|"]
    for (claim, task), rows in groups.items():
        count = {v: (sum(c["verdict"] == v for c in rows), sum(c["verdict_fdr"] == v for c in rows))
                 for v in ("held", "not held", "inconclusive")}
        values = [c["value"] for c in rows if c["value"] is not None]  # None: undefined on these items
        low, high = (min(values), max(values)) if values else (None, None)
        lines.append(f"| {claim} | {task} | {len(rows)} | "
                     + " | ".join(f"{n} ({n_fdr})" for n, n_fdr in count.values())
                     + f" | {_f(low, '+.3f')} … {_f(high, '+.3f')} |")
    return lines


def _tuning_section(task: str, tuned: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"## Tuned rows ({task}): the grid points compared on validation", "",
             "A tuned row is the point with the best validation robust accuracy (expected over K, main Q_x), "
             "then accuracy, on the first seed validated; that point is then run on every seed, the other "
             "points only on validation.", ""]
    for family, entry in tuned.items():
        names = list(entry["candidates"])
        c = entry["chosen"]
        pending = entry["pending_test"]
        lines.append(f"- {family} (tuned): among {', '.join(f'`{n}`' for n in names)} on {c['seed']}; chosen "
                     f"`{c['preset']}` (rob. acc {_f(c['validation'][0])}, acc {_f(c['validation'][1])})"
                     + (" (one point run so far: not yet a selection)" if len(names) == 1 else "")
                     + (f"; not yet scored on test: {', '.join(pending)}" if pending else ""))
    lines += ["", "| candidate | seeds | " + " | ".join(name for name, _, _ in ROW_METRICS[:3]) + " |",
              "|---|---|" + "---|" * 3]
    for entry in tuned.values():
        for name, row in entry["candidates"].items():
            cells = [_interval(row[metric]) for metric, _, _ in ROW_METRICS[:3]]
            lines.append(f"| {name} | {', '.join(map(str, row['seeds']))} | " + " | ".join(cells) + " |")
    return lines


def _figure2_section(task: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    scores = [s for s in FIGURE2_SCORES if any(s in r["auroc"] for r in rows.values())]
    lines = [f"## Figure 2 ({task}): failure-prediction AUROC per score and split", "",
             "Standard training, main Q_x, seeds pooled, 95 % intervals (`figure2_auroc.png`). "
             "0.5 is chance; below it a score ranks failures backwards.", "",
             "| split | n | seeds | " + " | ".join(scores) + " |", "|---|---|---|" + "---|" * len(scores)]
    for split, row in rows.items():
        cells = [_interval(row["auroc"][s]) if s in row["auroc"] else "—" for s in scores]
        lines.append(f"| {split} | {row['n_items']} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    return lines


def _methods_section(task: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"## Methods side by side ({task}, in-domain test): Table 2 and Table 3 rows", "",
             "Each preset over its own seeds (pooled), 95 % intervals; robust accuracy under the main Q_x. "
             "The claims above pair presets on their shared seeds.", "",
             "| preset | seeds | " + " | ".join(name for name, _, _ in ROW_METRICS) + " |",
             "|---|---|" + "---|" * len(ROW_METRICS)]
    for preset, row in rows.items():
        cells = [_interval(row[name]) if name in row else "—" for name, _, _ in ROW_METRICS]
        lines.append(f"| {preset} | {', '.join(map(str, row['seeds']))} | " + " | ".join(cells) + " |")
    return lines


def _k_section(task: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"## Appendix B.1: stability of the K-draw estimate ({task}, in-domain test, Standard)", "",
             "Each item's packed rewrites in a seeded random order; two estimates from disjoint draws (the "
             "first k, the next k); ρ between them, seeds pooled. √ρ approximates the estimate's rank "
             "correlation with the exact (K → ∞) score at k draws, √(2ρ/(1+ρ)) at 2k draws.", "",
             "| k | score | ρ(two k-draw estimates) [95 % CI] | implied ρ vs exact, k draws "
             "| same, 2k draws |",
             "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['k']} | {row['score']} | {_interval([row['rho'], *row['ci']])} | "
                     f"{_f(row['implied_rho_vs_exact'])} | {_f(row['implied_rho_vs_exact_2k'])} |")
    return lines


def _lambda_section(task: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"## Appendix B.3: λ at scoring time ({task}, in-domain test, main Q_x)", "",
             "Failure AUROC of SUA_λ = S − λ·H on fixed models, seeds pooled, 95 % intervals; λ = 0 is S "
             "alone. λ in training is the tuned rows' grid (*Tuned rows*).", "",
             "| λ | " + " | ".join(f"{r['name']} (seeds {', '.join(map(str, r['seeds']))})"
                                  for r in rows) + " |",
             "|---|" + "---|" * len(rows)]
    for i, (lam, *_) in enumerate(rows[0]["auroc"]):
        lines.append(f"| {lam:g} | " + " | ".join(_interval(r["auroc"][i][1:]) for r in rows) + " |")
    return lines


def _coverage_section(summary: dict[str, Any]) -> list[str]:
    rows = [{"task": task, **r} for task, e in summary.items() for r in e.get("coverage", [])]
    done = sum(len(r["landed"]) for r in rows)
    total = sum(len(r["planned"]) for r in rows)
    lines = ["## Run coverage: what of the profile has landed", "",
             f"{done} of {total} planned units have every pack of their scope (`all`: every split under "
             "both Q_x settings; `validation`: a grid point, scored where its tuned row is selected; "
             "`in-domain`: a Table 3 ablation or Appendix B.2 row, scored on validation and the in-domain "
             "test).", "",
             "| task | preset | scope | seeds planned | landed | partial |", "|---|---|---|---|---|---|"]
    seeds = lambda values: ", ".join(map(str, values)) or "—"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['task']} | {r['preset']} | {r['scope']} | {seeds(r['planned'])} | "
                     f"{seeds(r['landed'])} | {seeds(r['partial'])} |")
    return lines


def _human_section(entry: dict[str, Any]) -> list[str]:
    lines = [f"## Human uncertainty: {entry['split']} ({entry['n_items']} items)", "",
             f"Signal: {entry['signal']}. Spearman ρ with each score [95 % CI]:", "",
             "| score | ρ [95 % CI] |", "|---|---|"]
    for name, iv in entry["spearman"].items():
        lines.append(f"| {name} | {_f(iv['value'], '+.3f')} [{_f(iv['ci_low'], '+.3f')}, "
                     f"{_f(iv['ci_high'], '+.3f')}] |")
    flags = entry["ambiguity_collapse"]
    lines.append(f"\nAmbiguity-collapse flags: {flags['n_flagged']} items; mean signal flagged "
                 f"{_f(flags['mean_signal_flagged'])}, others {_f(flags['mean_signal_others'])}.")
    if "lemma_4_6" in entry:
        lemma = entry["lemma_4_6"]
        lines.append(f"Lemma 4.6 (H* = crowd label entropy): holds on {_f(lemma['share_holds'], '.1%')} "
                     f"of items, mean slack {_f(lemma['mean_slack'], '+.3f')}.")
    return lines


def _markdown(claims: list[dict[str, Any]], summary: dict[str, Any], human: list[dict[str, Any]],
              root: Path) -> str:
    header = ["# Evidence: the paper's claims as paired differences with 95 % bootstrap intervals", "",
              f"Derived from the packed units in `{root.name}/` by "
              f"`sua evidence derive {root.as_posix()}`; "
              f"{N_RESAMPLES} item resamples, seeds pooled. A positive difference means the claim holds; "
              "the verdict is *held* when the interval lies above 0, *not held* below 0, else "
              "*inconclusive*. With this many claims some verdicts arise by chance: the *FDR* column "
              "keeps a verdict only where the Benjamini–Hochberg adjusted bootstrap p-value over all "
              "claims (q) is below 0.05."]
    sections = [_accuracy_section(summary), _coverage_section(summary),
                *(_figure2_section(task, e["figure2"]) for task, e in summary.items() if e.get("figure2")),
                _glance_section(claims), _claims_section(claims),
                *(_methods_section(task, e["methods"]) for task, e in summary.items() if e.get("methods")),
                *(_tuning_section(task, e["tuning"]) for task, e in summary.items() if e.get("tuning")),
                *(_k_section(task, e["k_agreement"]) for task, e in summary.items() if e.get("k_agreement")),
                *(_lambda_section(task, e["lambda_sweep"])
                  for task, e in summary.items() if e.get("lambda_sweep")),
                *(_human_section(entry) for entry in human)]
    return "\n\n".join("\n".join(lines) for lines in [header, *sections]) + "\n"
