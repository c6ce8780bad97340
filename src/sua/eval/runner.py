"""The experiment runner's units: a trained model per (task, preset, seed) and a score file per
(model, split, K, scoring seed), each cached on disk so an interrupted run resumes.

Layout under ``RUN_DIR``::

    data/<task>/<split>[-n<N>].jsonl                a split's records (first N), as trained and scored
    units/<task>/<preset>-n<N>/seed<S>/model/       Hugging Face folder (sua train)
    units/<task>/<preset>-n<N>/seed<S>/scores/<split>-k<K>-s<seed>.jsonl   per-instance records
    units/<task>/<preset>-n<N>/seed<S>/votes/<split>-m<M>.json              MC-dropout agreement
    cache/perturbations.sqlite                      rewrites shared by every model
    cache/embeddings.sqlite                         their sentence embeddings (similarity checks)

Models are trained by :func:`sua.train.train_model` and score files written by the scorers'
``score_file`` (with its ``.meta.json``), both resumable: a rerun continues an interrupted
unit from its last checkpoint or its last scored input. A score file with every input is read
without a model; one without a ``.meta.json`` was written whole by an older runner and is read
as it is. Data and vote files are written to a temporary name and renamed when complete. Units
computed at the same time in other processes (``sua reproduce --engine ray``) write files of
their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sua.errors import SUAInputError
from sua.eval.data import default_data_dir
from sua.eval.tasks import (
    Split,
    Task,
    answer_texts,
    gold_labels,
    load_split,
    load_task,
    read_config,
    resolve_task,
    shipped_names,
    task_choices,
    task_kind,
)
from sua.fingerprint import model_fingerprint
from sua.inputs import Example
from sua.io import finished_ids, read_jsonl
from sua.manifest import meta_path_for, require_same_config, write_manifest
from sua.outputs import write_atomic
from sua.records import ScoreRecord
from sua.tasks import KINDS, TaskKind, input_builder

_PROFILE_KEYS = {"name", "seeds", "k", "k_sweep", "k_reference", "mc_passes", "coverage", "perturber",
                 "methods", "train", "tasks", "table3", "appendix_b"}


#: ``second_qx``: a second Q_x setting every evidence unit is also scored under; ``grid``: per
#: training preset, the override points a "tuned" row is selected from (sua.eval.evidence).
_OPTIONAL_PROFILE_KEYS = {"second_qx", "grid"}


def profile_names() -> list[str]:
    """Names of the shipped experiment profiles."""
    return shipped_names("profiles")


def load_profile(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """A shipped profile (``quick``, ``full``) or a profile file: sizes, seeds, K and the
    training options of every experiment."""
    profile = read_config("profiles", name_or_path, "profile")
    missing = sorted(_PROFILE_KEYS - set(profile))
    unknown = sorted(set(profile) - _PROFILE_KEYS - _OPTIONAL_PROFILE_KEYS)
    if missing or unknown:
        raise SUAInputError(f"profile {name_or_path}: missing {missing}, unknown {unknown}")
    return profile


#: Profile keys added later, with the value a run folder written before them had.
LEGACY_PROFILE = {"precision": "fp32"}

#: Inputs a classifier's score file is scored in at a time (the scorer's default is 512): an
#: interruption loses at most one chunk, and a chunk of 500 BBC News articles under a cold
#: mixture Q_x was over an hour of back-translation and validation with nothing written. 256 is
#: the adversarial lockstep's group, so nothing is lost in speed: on 256 SNLI validation inputs
#: (warm caches, busy machine) 245-248 ms an input in chunks of 256, 276-317 in chunks of 64.
SCORE_CHUNK = 256


def pin_profile(run_dir: str | os.PathLike[str], profile: dict[str, Any]) -> Path:
    """Create ``run_dir`` with ``profile.json``, or check that the run there used ``profile``
    (a run folder keeps its profile: other settings are an error)."""
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    profile_file = out / "profile.json"
    if profile_file.exists():
        previous = json.loads(profile_file.read_text(encoding="utf-8"))
        # run folders from before --precision existed scored in fp32
        previous = {**{k: v for k, v in LEGACY_PROFILE.items() if k in profile}, **previous}
        require_same_config(previous, json.loads(json.dumps(profile)),
                            f"{out} holds a run with another profile", "choose another run folder")
    write_manifest(profile_file, profile)
    return out


def split_preset(preset: str) -> tuple[str, dict[str, Any]]:
    """``"NAME@key=value,..."`` -> ``(NAME, {key: value})``, values read as JSON numbers or
    booleans (else kept as strings): one point of a hyperparameter grid on top of a preset.

    >>> split_preset("sua-tr@alpha=10,lam=0.5")
    ('sua-tr', {'alpha': 10, 'lam': 0.5})
    """
    name, _, rest = preset.partition("@")
    overrides: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SUAInputError(f"preset {preset!r}: grid overrides look like NAME@key=value,key=value")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return name, overrides


def train_kind(task: Task) -> TaskKind:
    """The built-in kind a task's units train as (``qa``, ``nli`` for pairs, else
    ``classification``: the name and record fields in their ``config.json`` and ``data/``
    files), rewriting the task's own side."""
    base = KINDS["qa" if task.kind == "qa" else "nli" if task.pair_field else "classification"]
    return replace(base, rewrite=task_kind(task).rewrite)


def training_records(task: Task, examples: Sequence[Example]) -> list[dict[str, Any]]:
    """Examples as records in the field names of the task's :func:`train_kind`."""
    kind = train_kind(task)

    def record(ex: Example) -> dict[str, Any]:
        row = {"id": ex.id, kind.text_field: ex.text}
        if kind.pair_field:
            row[kind.pair_field] = ex.pair
        if kind.answers_field:
            row[kind.answers_field] = ex.meta[task.answers_field or "answers"]
        else:
            row[str(kind.label_field)] = ex.label
        return row

    return [record(ex) for ex in examples]


@dataclass(frozen=True)
class ScoreFile:
    """What one score file holds: the model of unit (``task``, ``preset``, ``seed``, ``n_train``)
    on a split, with K rewrites drawn with ``score_seed`` under Q_x setting ``qx`` (``None``: the
    split's or the profile's)."""

    task: str
    preset: str
    seed: int
    n_train: int
    split: str
    k: int
    score_seed: int
    qx: str | None

    @property
    def name(self) -> str:
        return f"{self.split}-k{self.k}-s{self.score_seed}" + (f"-q{self.qx}" if self.qx else "")


def annotate_record(record: ScoreRecord, ex: Example, task: Task, split: Split) -> ScoreRecord:
    """``record`` with its ``split`` and ``role``; for QA the gold answer texts and for a
    multi-label split the gold labels as ``gold_labels``, a prediction (clean or perturbed) then
    being correct when it is one of them (``None`` when the item has none)."""
    record.split, record.role = split.name, split.role
    if task.kind == "qa":
        record.gold_labels = answer_texts(ex, task)
    elif split.gold_labels_field:
        gold = gold_labels(ex, split)
        record.gold_labels = gold
        record.correct = record.prediction in gold if gold else None
        for pert in record.perturbations:
            pert.correct = pert.prediction in gold if gold else None
    return record


def _finished(path: Path, examples: Sequence[Example]) -> bool:
    """Whether the score file ``path`` holds a record of every input: it has one for each of
    ``examples``' ids, or it has no ``.meta.json`` (the runner wrote score files whole, with no
    manifest, before it scored through ``score_file``)."""
    if not path.exists():
        return False
    if not meta_path_for(path).exists():
        return True
    return {ex.id for ex in examples} <= finished_ids(path)


class ExperimentRun:
    """Cached units of one run folder; see the module docstring."""

    def __init__(self, run_dir: str | os.PathLike[str], profile: dict[str, Any], *,
                 data_dir: str | os.PathLike[str] | None = None, progress: bool = True,
                 log: Callable[[str], None] = print, device: str = "auto") -> None:
        self.dir = Path(run_dir)
        self.profile = profile
        self.device = device  # where models train and score; the precision is the profile's
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.progress = progress
        self.log = log
        self._tasks: dict[str, Task] = {}
        self._selected: list[str] | None = None
        self._examples: dict[tuple[str, str], list[Example]] = {}
        self._train_sizes: dict[str, int] = {}
        self._records: dict[Path, list[dict[str, Any]]] = {}  # score files read or written this run
        self._loaded: tuple[Path, Any] | None = None  # the last model loaded, reused across splits

    # -- data ------------------------------------------------------------------------------

    def task(self, name: str) -> Task:
        if name not in self._tasks:
            self._tasks[name] = load_task(name)
        return self._tasks[name]

    def select_tasks(self, tasks: Sequence[str | os.PathLike[str]]) -> None:
        """Run the experiments over tasks only on these of the profile's tasks, each a ``--task``
        value (:func:`~sua.eval.tasks.resolve_task`); a task file's definition is then used for
        the profile's task of its name."""
        selected = []
        for value in tasks:
            name = resolve_task(value).name
            if name not in self.profile["tasks"]:
                raise SUAInputError(f"profile {self.profile['name']!r} has no task {name!r}; its tasks: "
                                    f"{', '.join(self.profile['tasks'])}")
            if str(value) not in task_choices():  # a task file: its own definition
                self._tasks[name] = load_task(value)
            selected.append(name)
        self._selected = list(dict.fromkeys(selected))

    def task_names(self) -> list[str]:
        """The tasks the experiments over tasks run on: the selected ones, else the profile's."""
        return list(self.profile["tasks"]) if self._selected is None else list(self._selected)

    def task_size(self, task: str) -> dict[str, Any]:
        sizes = self.profile["tasks"]
        if task not in sizes:
            raise SUAInputError(f"profile {self.profile['name']!r} has no sizes for task {task!r}")
        return sizes[task]

    def seeds(self, task: str) -> list[int]:
        """The task's seeds: its own ``seeds`` in the profile, else the profile's."""
        return list(self.task_size(task).get("seeds", self.profile["seeds"]))

    def eval_size(self, task: str, split: str) -> int | None:
        """Items scored on ``split``: the task's ``split_eval`` entry for it, else ``eval``
        (``"all"``: every item of the split)."""
        sizes = self.task_size(task)
        size = sizes.get("split_eval", {}).get(split, sizes["eval"])
        return None if size == "all" else int(size)

    def examples(self, task: str, split: str) -> list[Example]:
        """The evaluation sample of a split (:meth:`eval_size` items; fixed across seeds)."""
        key = (task, split)
        if key not in self._examples:
            self._examples[key] = load_split(self.task(task), split, self.data_dir,
                                             limit=self.eval_size(task, split))
        return self._examples[key]

    def train_size(self, task: str) -> int:
        """Training examples per unit: the profile's ``train`` for the task."""
        return self.resolve_size(task, self.task_size(task)["train"])

    def resolve_size(self, task: str, size: int | str) -> int:
        """A training-set size from a profile: ``size``, or for ``"all"`` the whole train split."""
        if size != "all":
            return int(size)
        if task not in self._train_sizes:
            self._train_sizes[task] = len(load_split(self.task(task), "train", self.data_dir))
        return self._train_sizes[task]

    def _split_file(self, task: str, split: str, n: int | None) -> Path:
        """The records of a task's split (first-``n`` sample) in ``sua train``'s field names,
        written once under ``data/``."""
        spec = self.task(task)
        path = self.dir / "data" / task / (f"{split}-n{n}.jsonl" if n else f"{split}.jsonl")
        if not path.exists():
            rows = training_records(spec, load_split(spec, split, self.data_dir, limit=n))
            write_atomic(path, lambda fh: fh.writelines(json.dumps(r) + "\n" for r in rows))
        return path

    # -- models ----------------------------------------------------------------------------

    def unit_dir(self, task: str, preset: str, seed: int, n_train: int) -> Path:
        return self.dir / "units" / task / f"{preset}-n{n_train}" / f"seed{seed}"

    def model_dir(self, task: str, preset: str, seed: int, n_train: int | None = None) -> Path:
        """The trained model of a unit, training it (resumably) when it is not there yet.
        ``preset`` is a training preset, optionally with overrides of a grid point
        (:func:`split_preset`, e.g. ``sua-tr@alpha=10,lam=0.5``)."""
        from sua.train import Runtime, TrainData, train_model

        spec = self.task(task)
        n = n_train or self.train_size(task)
        out = self.unit_dir(task, preset, seed, n)
        if (out / "model" / "config.json").exists():
            return out / "model"
        data = self._split_file(task, "train", n)
        name, overrides = split_preset(preset)
        options = {**self.train_options(task), **overrides, "seed": seed}
        # with eval_every, the whole validation split is scored into train_log.jsonl (the learning curve)
        curve = self._split_file(task, "validation", None) if options.get("eval_every") else None
        self.log(f"train {task} {preset} seed={seed} n={n}")
        return train_model(train_kind(spec), name, TrainData(data, eval_path=curve, eval_limit=None), out,
                           labels=spec.labels, runtime=Runtime(device=self.device, progress=self.progress),
                           **options)

    def train_options(self, task: str) -> dict[str, Any]:
        """The profile's training options with the task's overrides."""
        return {**self.profile["train"], **self.task_size(task).get("train_options", {})}

    def predictor(self, task: str, model_dir: Path, split: Split) -> Any:
        """The model adapter for scoring ``split`` (label groups applied), reading inputs with
        the ``max_length`` the model was trained with."""
        from sua.models import GroupedLabels, ModelOptions, load_model

        if self._loaded is None or self._loaded[0] != model_dir:
            max_length = int(self.train_options(task).get("max_length", 128))
            self._loaded = (model_dir, load_model(model_dir, head=self.task(task).kind, options=ModelOptions(
                device=self.device, precision=self.profile.get("precision", "fp32"), max_length=max_length)))
        model = self._loaded[1]
        return GroupedLabels(model, split.label_groups) if split.label_groups else model

    def perturber(self, setting: str, model: Any, examples: Sequence[Example], task: Task) -> Any:
        """Q_x for ``model`` under ``setting`` (:func:`sua.perturb.qx.model_qx`): model-free
        draws cached in the run folder and shared by every model, adversarial ones per model."""
        from sua.perturb.qx import model_qx

        to_model_input = input_builder(examples, task_kind(task).rewrite) if task.pair_field else None
        return model_qx(setting, model, cache_dir=self.dir / "cache", to_model_input=to_model_input)

    # -- scores ----------------------------------------------------------------------------

    def _in_run(self, value: str | os.PathLike[str]) -> str:
        """``value`` with this run folder's path written ``<run>``."""
        text = str(value)
        return text if str(self.dir) == "." else text.replace(str(self.dir), "<run>")

    def scores(self, task: str, preset: str, seed: int, split: str, *, k: int | None = None,
               score_seed: int = 0, n_train: int | None = None,
               qx: str | None = None) -> list[dict[str, Any]]:
        """Per-instance score records of a unit's model on a split, in the split's order, under the
        split's Q_x setting (its ``perturber``, else the profile's) or ``qx`` when given (a second
        setting, in its own file).

        The file is written by the scorer's ``score_file`` from the split's records under
        ``data/`` (:meth:`_split_file`), resumably: a rerun scores only the missing inputs, and a
        file that holds every input is read without loading the model. Records get ``split``,
        ``role`` and, for QA and multi-label splits, ``gold_labels`` (:func:`annotate_record`).
        """
        k = k or self.profile["k"]
        n = n_train or self.train_size(task)
        file = ScoreFile(task, preset, seed, n, split, k, score_seed, qx)
        path = self.unit_dir(task, preset, seed, n) / "scores" / f"{file.name}.jsonl"
        if path in self._records:
            return self._records[path]
        examples = self.examples(task, split)
        if not _finished(path, examples):
            self._score_file(file, path)
        order = {ex.id: i for i, ex in enumerate(examples)}
        self._records[path] = sorted((rec for _, rec in read_jsonl(path)), key=lambda rec: order[rec["id"]])
        return self._records[path]

    def _score_file(self, file: ScoreFile, path: Path) -> None:
        """Score ``file`` into ``path`` (resuming what is there) through the task's scorer's
        ``score_file``, training the unit's model first if it is not there yet."""
        from sua.scoring import SCORERS, Fields

        spec = self.task(file.task)
        sp = spec.split(file.split)
        examples = self.examples(file.task, file.split)
        model_dir = self.model_dir(file.task, file.preset, file.seed, file.n_train)
        model = self.predictor(file.task, model_dir, sp)
        qx = file.qx or sp.perturber or self.profile["perturber"]
        perturber = self.perturber(qx, model, examples, spec)
        self.log(f"score {file.task} {file.preset} seed={file.seed} {file.split} K={file.k} Q_x={qx} "
                 f"({len(examples)} inputs)")
        kind = task_kind(spec)
        data = self._split_file(file.task, file.split, self.eval_size(file.task, file.split))
        # the run folder's own paths as <run>/... (they override the config's), so that an
        # interrupted file resumes in a moved or copied run folder
        metadata = {"task": file.task, "split": file.split, "qx": qx, "data": self._in_run(data),
                    "perturber": self._in_run(repr(perturber)), "model_dir": self._in_run(model_dir),
                    "model_fingerprint": model_fingerprint(model_dir)}
        chunk = {"chunk_size": SCORE_CHUNK} if kind.head == "classification" else {}
        scorer = SCORERS[kind.head](model, perturber, k=file.k, seed=file.score_seed, **chunk,
                                    perturb_field=kind.rewrite, metadata=metadata)
        by_id = {ex.id: ex for ex in examples}
        scorer.score_file(data, path, Fields.of_task(train_kind(spec)), progress=self.progress,
                          annotate=lambda record: annotate_record(record, by_id[record.id], spec, sp))

    def agreement(self, task: str, preset: str, seed: int, split: str,
                  n_train: int | None = None) -> np.ndarray | None:
        """MC-dropout agreement rate of the modal label per input (``None`` for QA)."""
        spec = self.task(task)
        if spec.kind == "qa":
            return None
        from sua.models import GroupedLabels, mc_dropout_votes

        passes = int(self.profile["mc_passes"])
        n = n_train or self.train_size(task)
        path = self.unit_dir(task, preset, seed, n) / "votes" / f"{split}-m{passes}.json"
        if not path.exists():
            model = self.predictor(task, self.model_dir(task, preset, seed, n), spec.split(split))
            grouped = isinstance(model, GroupedLabels)
            inputs = [ex.model_input() for ex in self.examples(task, split)]
            votes = mc_dropout_votes(model.model if grouped else model, inputs, passes=passes, seed=seed)
            # with label groups, the votes for the grouped labels are summed
            agreement = model.group(votes.votes).max(-1) if grouped else votes.agreement
            write_atomic(path, lambda fh: json.dump([float(a) for a in agreement], fh))
        return np.asarray(json.loads(path.read_text(encoding="utf-8")), dtype=np.float64)


@dataclass(frozen=True)
class Unit:
    """One trained model of a run, ``(task, preset, seed)`` on ``n_train`` examples, and the cached
    files the experiments read from it: score files ``(split, K, scoring seed)`` and MC-dropout
    agreements per split. :meth:`compute` makes them all (what a worker of ``sua reproduce
    --engine ray`` does); a unit's files are its own, so units run at the same time never race."""

    task: str
    preset: str
    seed: int
    n_train: int
    scores: tuple[tuple[str, int, int], ...] = ()
    agreement: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.task}:{self.preset}:{self.seed}"

    def compute(self, run: ExperimentRun) -> None:
        """Train (or find) the model, then write each missing score and agreement file."""
        run.model_dir(self.task, self.preset, self.seed, self.n_train)
        for split, k, score_seed in self.scores:
            run.scores(self.task, self.preset, self.seed, split, k=k, score_seed=score_seed,
                       n_train=self.n_train)
        for split in self.agreement:
            run.agreement(self.task, self.preset, self.seed, split, n_train=self.n_train)


class UnitEngine(Protocol):
    """Where units are computed: ``run(run, work, units)`` calls ``work(run, *unit)`` for each
    tuple of ``units`` somewhere that shares ``run``'s folder, and returns when all are done
    (without an engine, :func:`~sua.eval.reproduce.reproduce` computes each file in this process
    when a table first reads it)."""

    def run(self, run: ExperimentRun, work: Callable[..., None],
            units: Sequence[tuple[Any, ...]]) -> None: ...


def compute_unit(run: ExperimentRun, unit: Unit) -> None:
    """``unit.compute(run)``: the work function an engine runs per unit."""
    unit.compute(run)
