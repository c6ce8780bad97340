"""Task kinds: what a task reads, what its model outputs and which side of an input is rewritten.

A task kind is one :class:`TaskKind` entry of :data:`KINDS`. Its ``head`` names the output, and
each layer keeps one table from head to its class: the model adapter
(:data:`sua.models.ADAPTERS`), the scorer (:data:`sua.scoring.SCORERS`) and the training head
(:data:`sua.train.heads.HEADS`); ``generative`` is scored by sampled answers and has no encoder
adapter or training head. A task file (``sua/eval/configs/tasks/*.toml``) becomes a kind through
:func:`sua.eval.tasks.resolve_task`; every ``--task`` option of the CLI goes through it.

Which side of an input is rewritten is decided here, once: a kind's ``rewrite`` (``text``: the
single text or the first segment of a pair; ``pair``: the second segment, an NLI hypothesis or a
QA question), and for code that scores examples without a task, ``auto`` — the pair when there
is one, else the text (:func:`rewritten_side`).

>>> KINDS["nli"].rewrite, KINDS["qa"].head
('pair', 'qa')
>>> ex = Example("1", "A man sleeps .", pair="Somebody sleeps .")
>>> side = rewritten_side(ex, KINDS["nli"].rewrite)
>>> side, rewritten_source(ex, side), with_rewrite(ex, side, "Someone sleeps .")
('pair', 'Somebody sleeps .', ('A man sleeps .', 'Someone sleeps .'))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sua.errors import SUAInputError
from sua.inputs import Example, ModelInput

#: Output heads: ``classification`` (a distribution over labels), ``qa`` (over answer spans of
#: the context), ``generative`` (over meaning clusters of sampled answers).
HEADS = ("classification", "qa", "generative")

#: Values of a rewritten side: a kind's ``rewrite`` is ``text`` or ``pair``; ``auto`` is the
#: rule for examples scored without a task.
PERTURB_FIELDS = ("auto", "text", "pair")

#: ``sua score --backend`` values: an encoder (``hf``) or a language model.
ENCODER = ("hf",)
LANGUAGE_MODELS = ("hf-causal", "openai")


@dataclass(frozen=True)
class TaskKind:
    """One task kind: the record fields that make an :class:`~sua.inputs.Example`, the label
    order (``None``: sorted label names found in the data), the gold answers' field (QA), the
    output ``head``, the side that is ``rewrite`` n, the ``sua score --backend`` values that
    score it and a language model's default prompt ``template``."""

    name: str
    text_field: str
    pair_field: str | None
    head: str
    rewrite: str
    backends: tuple[str, ...]
    label_field: str | None = "label"
    labels: tuple[str, ...] | None = None
    answers_field: str | None = None
    template: str | None = None

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise SUAInputError(f"task {self.name!r}: head must be one of {HEADS}, got {self.head!r}")
        if self.rewrite not in ("text", "pair"):
            raise SUAInputError(f"task {self.name!r}: rewrite must be 'text' or 'pair', got {self.rewrite!r}")
        if self.rewrite == "pair" and self.pair_field is None:
            raise SUAInputError(f"task {self.name!r} rewrites the pair but has no pair_field")
        if self.head != "classification" and (self.pair_field is None or self.rewrite != "pair"):
            raise SUAInputError(f"task {self.name!r}: a {self.head} task reads (context, question) "
                                "pairs and rewrites only the question")

    @property
    def gold_field(self) -> str | None:
        """The field holding what a prediction is judged against: the label, or the answers."""
        return self.label_field if self.head == "classification" else self.answers_field

    @property
    def rewritten_field(self) -> str:
        """The record field whose text is rewritten."""
        return str(self.pair_field) if self.rewrite == "pair" else self.text_field


#: The built-in kinds by name; ``--task`` also takes a task file's name or path.
KINDS: dict[str, TaskKind] = {kind.name: kind for kind in (
    TaskKind("classification", "text", None, head="classification", rewrite="text",
             backends=ENCODER + LANGUAGE_MODELS),
    TaskKind("nli", "premise", "hypothesis", head="classification", rewrite="pair",
             backends=ENCODER + LANGUAGE_MODELS, labels=("entailment", "neutral", "contradiction"),
             template="nli"),
    TaskKind("qa", "context", "question", head="qa", rewrite="pair", backends=ENCODER,
             label_field=None, answers_field="answers"),
    TaskKind("qa-generative", "context", "question", head="generative", rewrite="pair",
             backends=LANGUAGE_MODELS, label_field=None, answers_field="answers",
             template="qa-generative"),
)}


def get_kind(task: str | TaskKind) -> TaskKind:
    """``task`` itself, or the built-in kind of that name."""
    if isinstance(task, TaskKind):
        return task
    if task not in KINDS:
        raise SUAInputError(f"unknown task kind {task!r}; known: {', '.join(KINDS)}")
    return KINDS[task]


def check_perturb_field(perturb_field: str) -> str:
    """``perturb_field`` if it is one of :data:`PERTURB_FIELDS`, else an actionable error."""
    if perturb_field not in PERTURB_FIELDS:
        raise SUAInputError(f"perturb_field must be one of {PERTURB_FIELDS}, got {perturb_field!r}")
    return perturb_field


def rewritten_side(ex: Example, perturb_field: str = "auto") -> str:
    """``"text"`` or ``"pair"``, the side of ``ex`` that is rewritten: ``perturb_field`` (a
    kind's ``rewrite``), where ``"auto"`` means the second text of a pair and the text otherwise."""
    field = ("text" if ex.pair is None else "pair") if check_perturb_field(perturb_field) == "auto" \
        else perturb_field
    if field == "pair" and ex.pair is None:
        raise SUAInputError(f"example {ex.id!r} has no pair text but perturb_field='pair'")
    return field


def rewritten_source(ex: Example, side: str) -> str:
    """The text of ``ex`` on ``side`` (of :func:`rewritten_side`), the one the perturber rewrites."""
    return ex.text if side == "text" else str(ex.pair)


def with_rewrite(ex: Example, side: str, text: str) -> ModelInput:
    """The model input of ``ex`` with its ``side`` replaced by ``text``; the other segment of a
    pair is kept as it is."""
    if ex.pair is None:
        return text
    return (text, ex.pair) if side == "text" else (ex.text, text)


def input_builder(examples: Sequence[Example],
                  perturb_field: str = "auto") -> Callable[[str, str], ModelInput]:
    """``to_model_input(input id, rewritten text)`` for ``examples``: the full model input of a
    rewrite (the premise put back for NLI), as the adversarial search needs it."""
    by_id = {ex.id: ex for ex in examples}

    def to_model_input(input_id: str, text: str) -> ModelInput:
        ex = by_id[input_id]
        return with_rewrite(ex, rewritten_side(ex, perturb_field), text)

    return to_model_input
