"""Evaluation tasks as data: versioned TOML files naming data files, fields, labels and the
train / validation / in-domain / shift / ambiguous / adversarial splits.

A task file (``configs/tasks/<name>.toml``, or any path) holds ``name``, ``version``,
``kind`` (``classification`` or ``qa``), ``labels``, the record fields, optional
``[partitions.NAME]`` (one source cut into named parts by a hash of a group field, so that
e.g. no SQuAD article lands in two parts) and ``[splits.NAME]`` entries with a ``role`` and
either a ``source``/``sources`` or a ``partition`` + ``take``. A split may map or drop labels
(``label_map``: records whose label is not a key are left out), accept several gold labels
(``gold_labels_field``), sum the model's labels into coarser ones (``label_groups``), name
the perturbation family used to score it (``perturber``) or be built from its source's items
(``derive``: the paper's own subsets, :mod:`sua.eval.derived`).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import Example
from sua.io import is_hub_source, iter_examples
from sua.tasks import KINDS, PERTURB_FIELDS, TaskKind

#: A task file's ``kind``: the output head of its :class:`~sua.tasks.TaskKind`.
TASK_FILE_KINDS = ("classification", "qa")
ROLES = ("train", "validation", "in-domain", "shift", "ambiguous", "adversarial")
_SPLIT_KEYS = {"role", "source", "sources", "partition", "take", "label_map", "gold_labels_field",
               "label_groups", "perturber", "derive"}
_PARTITION_KEYS = {"source", "sources", "by", "seed", "parts", "label_map"}


@dataclass(frozen=True)
class Split:
    """One evaluation (or training) split of a task; see the module docstring."""

    name: str
    role: str
    sources: tuple[str, ...]
    label_map: dict[str, str] | None = None
    partition_by: str | None = None
    partition_seed: int = 0
    parts: dict[str, float] | None = None
    take: str | None = None
    gold_labels_field: str | None = None
    label_groups: dict[str, list[str]] | None = None
    perturber: str | None = None
    derive: str | None = None


@dataclass(frozen=True)
class Task:
    """A task: its data fields, label set and splits."""

    name: str
    version: int
    kind: str
    text_field: str
    pair_field: str | None
    perturb_field: str
    labels: tuple[str, ...] | None
    answers_field: str | None
    splits: dict[str, Split] = field(default_factory=dict)
    path: str = ""

    def split(self, name: str) -> Split:
        if name not in self.splits:
            raise SUAInputError(f"task {self.name!r} has no split {name!r}; it has: {', '.join(self.splits)}")
        return self.splits[name]

    def splits_with_role(self, *roles: str) -> list[Split]:
        return [s for s in self.splits.values() if s.role in roles]


def shipped_names(folder: str) -> list[str]:
    """Names of the TOML files shipped in ``sua/eval/configs/<folder>``."""
    path = resources.files("sua.eval") / "configs" / folder
    return sorted(p.name.removesuffix(".toml") for p in path.iterdir() if p.name.endswith(".toml"))


def read_config(folder: str, name_or_path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """A shipped config of ``configs/<folder>`` by name, or a ``.toml`` file path, parsed."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SUAInputError(f"{what} file {path} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        shipped = resources.files("sua.eval") / "configs" / folder / f"{name_or_path}.toml"
        if not shipped.is_file():
            raise SUAInputError(f"unknown {what} {str(name_or_path)!r}; shipped: "
                                f"{', '.join(shipped_names(folder))} (or pass a {what} file path)")
        text = shipped.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SUAInputError(f"{what} file {name_or_path} is not valid TOML: {err}") from None


def task_names() -> list[str]:
    """Names of the task files shipped with the package."""
    return shipped_names("tasks")


def load_task(name_or_path: str | os.PathLike[str]) -> Task:
    """A shipped task by name (``nli``, ``topic``, ``topic20ng``, ``qa``) or a task file path."""
    return _parse_task(read_config("tasks", name_or_path, "task"), str(name_or_path))


def _parse_task(raw: dict[str, Any], where: str) -> Task:
    """A task file's table as a :class:`Task`; ``where`` (its name or path) prefixes every error."""
    kind = _need("kind", raw, "the task", where)
    if kind not in TASK_FILE_KINDS:
        raise SUAInputError(f"{where}: kind must be one of {TASK_FILE_KINDS}, got {kind!r}")
    if raw.get("perturb_field", "auto") not in PERTURB_FIELDS:
        raise SUAInputError(f"{where}: perturb_field must be one of {PERTURB_FIELDS}, "
                            f"got {raw['perturb_field']!r}")
    partitions = raw.get("partitions", {})
    for pname, part in partitions.items():
        _check_partition(pname, part, where)
    splits = {sname: _parse_split(sname, spec, partitions, where)
              for sname, spec in _need("splits", raw, "the task", where).items()}
    labels = raw.get("labels")
    task = Task(name=_need("name", raw, "the task", where),
                version=int(_need("version", raw, "the task", where)),
                kind=kind, text_field=_need("text_field", raw, "the task", where),
                pair_field=raw.get("pair_field"), perturb_field=raw.get("perturb_field", "auto"),
                labels=None if labels is None else tuple(labels), answers_field=raw.get("answers_field"),
                splits=splits, path=where)
    if kind == "classification" and not task.labels:
        raise SUAInputError(f"{where}: a classification task needs `labels`")
    if kind == "qa" and (task.answers_field is None or task.pair_field is None):
        raise SUAInputError(f"{where}: a qa task needs `answers_field` and `pair_field` (the question)")
    task_kind(task)  # the fields, head and rewritten side agree
    return task


def _need(key: str, table: dict[str, Any], ctx: str, where: str) -> Any:
    """``table[key]``, or an error saying that ``ctx`` of the file ``where`` needs it."""
    if key not in table:
        raise SUAInputError(f"{where}: {ctx} needs `{key}`")
    return table[key]


def _check_partition(pname: str, part: dict[str, Any], where: str) -> None:
    """A ``[partitions.NAME]`` table: known keys and part fractions that are positive and sum to 1."""
    _check_keys(part, _PARTITION_KEYS, f"{where}: partition {pname!r}")
    fractions = _need("parts", part, f"partition {pname!r}", where)
    if abs(sum(fractions.values()) - 1.0) > 1e-9 or min(fractions.values()) <= 0:
        raise SUAInputError(f"{where}: partition {pname!r} parts must be positive and sum to 1, "
                            f"got {fractions}")


def _parse_split(sname: str, spec: dict[str, Any], partitions: dict[str, Any], where: str) -> Split:
    """A ``[splits.NAME]`` table: a role and its sources, either its own or a part of a partition."""
    ctx = f"split {sname!r}"
    _check_keys(spec, _SPLIT_KEYS, f"{where}: {ctx}")
    role = _need("role", spec, ctx, where)
    if role not in ROLES:
        raise SUAInputError(f"{where}: {ctx} role must be one of {ROLES}, got {role!r}")
    base: dict[str, Any] = {"sources": _sources(spec, ctx, where)} if "partition" not in spec else \
        _partition_sources(spec, partitions, ctx, where)
    options = {k: spec[k] for k in ("label_map", "gold_labels_field", "label_groups", "perturber",
                                    "derive") if k in spec}
    return Split(name=sname, role=role, **base, **options)


def _partition_sources(spec: dict[str, Any], partitions: dict[str, Any], ctx: str,
                       where: str) -> dict[str, Any]:
    """The :class:`Split` fields of a split that takes one part of a partition."""
    pname = spec["partition"]
    if pname not in partitions:
        raise SUAInputError(f"{where}: {ctx} names unknown partition {pname!r}")
    part = partitions[pname]
    if spec.get("take") not in part["parts"]:
        raise SUAInputError(f"{where}: {ctx} must `take` one of {list(part['parts'])}")
    return {"sources": _sources(part, f"partition {pname!r}", where), "label_map": part.get("label_map"),
            "partition_by": _need("by", part, pname, where), "partition_seed": int(part.get("seed", 0)),
            "parts": dict(part["parts"]), "take": spec["take"]}


def task_kind(task: Task) -> TaskKind:
    """A task file as a :class:`~sua.tasks.TaskKind`: its fields, labels, head (its ``kind``) and
    rewritten side (its ``perturb_field``; ``auto``: the pair when it has one), scored by the
    backends of the built-in kind with that head.

    >>> kind = task_kind(load_task("topic"))
    >>> kind.head, kind.rewrite, kind.labels
    ('classification', 'text', ('World', 'Sports', 'Business', 'Sci/Tech'))
    """
    rewrite = task.perturb_field if task.perturb_field != "auto" else ("pair" if task.pair_field else "text")
    qa = task.kind == "qa"
    try:
        return TaskKind(task.name, task.text_field, task.pair_field, head=task.kind, rewrite=rewrite,
                        backends=KINDS[task.kind].backends, label_field=None if qa else "label",
                        labels=task.labels, answers_field=task.answers_field if qa else None)
    except SUAInputError as err:
        raise SUAInputError(f"{task.path}: {err}") from None


def task_choices() -> list[str]:
    """What ``--task`` accepts by name: the built-in kinds, then the shipped task files."""
    return [*KINDS, *(name for name in task_names() if name not in KINDS)]


#: The help of every ``--task`` option.
TASK_HELP = ("a task kind or task name ({names}), or a task TOML file: its record fields, the model's "
             "output (labels, answer spans or generated answers) and the side that is rewritten")


def resolve_task(name_or_path: str | os.PathLike[str]) -> TaskKind:
    """The :class:`~sua.tasks.TaskKind` a ``--task`` value names: a built-in kind
    (:data:`sua.tasks.KINDS`), a shipped task file by name (``topic``) or a task TOML file. A
    shipped file and a built-in kind of the same name (``nli``, ``qa``) agree; the kind is used.

    >>> resolve_task("qa").head, resolve_task("topic").text_field
    ('qa', 'text')
    """
    name = str(name_or_path)
    if name in KINDS:
        return KINDS[name]
    path = Path(name)
    if path.suffix != ".toml" and not path.exists() and name not in task_names():
        raise SUAInputError(f"unknown task {name!r}; known: {', '.join(task_choices())}, or a task "
                            "TOML file")
    return task_kind(load_task(name_or_path))


def _check_keys(table: dict[str, Any], allowed: set[str], ctx: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SUAInputError(f"{ctx}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _sources(table: dict[str, Any], ctx: str, where: str) -> tuple[str, ...]:
    if ("source" in table) == ("sources" in table):
        raise SUAInputError(f"{where}: {ctx} needs exactly one of `source` or `sources`")
    return (table["source"],) if "source" in table else tuple(table["sources"])


def resolve_source(source: str, data_dir: str | os.PathLike[str]) -> str:
    """A hub source as it is; a relative path under ``data_dir``."""
    if is_hub_source(source) or Path(source).is_absolute():
        return source
    return str(Path(data_dir) / source)


def _unit_interval(*parts: object) -> float:
    """A deterministic number in [0, 1) from the text of ``parts`` (sha256)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).hexdigest()
    return int(digest[:15], 16) / 16**15


def partition_of(group: str, parts: dict[str, float], seed: int) -> str:
    """The part a group value falls in: u = sha256(seed|group) ∈ [0, 1) against the
    cumulative fractions of ``parts`` in their written order."""
    u, edge = _unit_interval(seed, group), 0.0
    names = list(parts)
    for name in names:
        edge += parts[name]
        if u < edge:
            return name
    return names[-1]


def iter_split(task: Task, split: str | Split, data_dir: str | os.PathLike[str]) -> Iterator[Example]:
    """Every example of a split, in file order, with labels mapped (records whose label is not
    in ``label_map`` left out) and partition membership applied."""
    spec = task.split(split) if isinstance(split, str) else split
    label_field = None if task.kind == "qa" else "label"
    for source in spec.sources:
        for ex in iter_examples(resolve_source(source, data_dir), text_field=task.text_field,
                                pair_field=task.pair_field, label_field=label_field):
            if spec.label_map is not None:
                if ex.label not in spec.label_map:
                    continue
                ex = replace(ex, label=spec.label_map[ex.label])
            if spec.parts is not None:
                group = ex.id if spec.partition_by == "id" else ex.meta.get(spec.partition_by)
                if group is None:
                    raise SUAInputError(f"{source}: record {ex.id!r} has no field {spec.partition_by!r} "
                                        f"to partition by")
                if partition_of(str(group), spec.parts, spec.partition_seed) != spec.take:
                    continue
            yield ex


def load_split(task: Task, split: str | Split, data_dir: str | os.PathLike[str], *,
               limit: int | None = None, sample_seed: int = 0) -> list[Example]:
    """The examples of a split; with ``limit``, a fixed sample of that size: the ``limit``
    examples with the smallest sha256(sample_seed|id) (the same items for every model seed,
    whatever the file order). A split with ``derive`` is then built from that sample
    (:mod:`sua.eval.derived`; a derivation may leave items out)."""
    examples = list(iter_split(task, split, data_dir))
    if not examples:
        name = split if isinstance(split, str) else split.name
        raise SUAInputError(f"task {task.name!r} split {name!r} has no examples under {data_dir}")
    if limit is not None and limit < len(examples):
        ranked = sorted(examples, key=lambda ex: _unit_interval("sample", sample_seed, ex.id))
        keep = {ex.id for ex in ranked[:limit]}
        examples = [ex for ex in examples if ex.id in keep]
    spec = task.split(split) if isinstance(split, str) else split
    if spec.derive:
        from sua.eval.derived import derive

        examples = derive(spec.derive, examples, sample_seed)
    return examples


def gold_labels(ex: Example, spec: Split) -> list[str]:
    """The labels that count as correct for ``ex``: the split's multi-label field when it has
    one, else the single gold label (empty when unlabeled)."""
    if spec.gold_labels_field and ex.meta.get(spec.gold_labels_field):
        return [str(v) for v in ex.meta[spec.gold_labels_field]]
    return [] if ex.label is None else [ex.label]


def answer_texts(ex: Example, task: Task) -> list[str]:
    """Gold answer strings of a QA example (``answers.text``)."""
    answers = ex.meta.get(task.answers_field or "answers") or {}
    texts = answers.get("text") if isinstance(answers, dict) else None
    if not texts:
        raise SUAInputError(f"QA example {ex.id!r} has no gold answers in {task.answers_field!r}")
    return list(texts)
