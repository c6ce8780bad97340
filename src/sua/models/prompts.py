"""Prompt templates for language models, as data files (``sua/models/templates/*.json``).

A template turns an input x (a text, or a ``(text, pair)`` pair such as (premise, hypothesis)
or (context, question)) into a :class:`Prompt`: ``prompt`` is a format string with the
fields ``{text}`` and ``{pair}``. ``chat`` makes the prompt one user turn (with an optional
``system`` turn) that each backend formats its own way (a tokenizer's chat template, or an
OpenAI-compatible ``/chat/completions`` request). ``choices`` maps each label to its
verbalised continuation (a classifier's labels, lm-evaluation-harness's ``doc_to_choice``);
``stop`` lists the strings that end a generated answer. ``version`` is bumped whenever the
wording changes, so scores from different wordings are never mixed up.

A template file is a JSON object with those keys, e.g. ``templates/nli.json``::

    {"name": "nli", "version": 1,
     "prompt": "Premise: {text}\\nHypothesis: {pair}\\n...\\nAnswer:",
     "choices": {"entailment": " yes", "neutral": " maybe", "contradiction": " no"}}
"""

from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sua.errors import SUAInputError
from sua.inputs import ModelInput

_FIELDS = {"text", "pair"}
_KEYS = {"name", "version", "description", "prompt", "choices", "chat", "system", "stop"}


@dataclass(frozen=True)
class Prompt:
    """What a backend continues: plain ``text``, or (``chat``) one user turn after ``system``."""

    text: str
    chat: bool = False
    system: str | None = None

    def messages(self) -> list[dict[str, str]]:
        """The chat turns: ``[system?, user]`` as ``{"role", "content"}`` dicts."""
        turns = [{"role": "system", "content": self.system}] if self.system else []
        return [*turns, {"role": "user", "content": self.text}]


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt format string plus what the model may answer (module doc).

    >>> t = PromptTemplate("demo", "Review: {text}\\nSentiment:", {"neg": " bad", "pos": " good"})
    >>> t.render("Loved it.").text, t.labels
    ('Review: Loved it.\\nSentiment:', ['neg', 'pos'])
    """

    name: str
    prompt: str
    choices: dict[str, str] = field(default_factory=dict)
    chat: bool = False
    system: str | None = None
    stop: tuple[str, ...] = ()
    version: int = 1
    description: str = ""

    def __post_init__(self) -> None:
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(self.prompt) if f is not None}
        except ValueError as err:
            raise SUAInputError(f"template {self.name!r}: bad prompt format string ({err})") from None
        if not used or not used <= _FIELDS:
            raise SUAInputError(f"template {self.name!r}: the prompt must use {{text}} and may use "
                                f"{{pair}}, and no other field; it uses {sorted(used)}")
        if any(not isinstance(v, str) or not v for v in self.choices.values()):
            raise SUAInputError(f"template {self.name!r}: every choice needs a non-empty verbaliser")

    @property
    def labels(self) -> list[str]:
        """The labels of ``choices``, in file order."""
        return list(self.choices)

    @property
    def uses_pair(self) -> bool:
        return "{pair}" in self.prompt

    def render(self, x: ModelInput) -> Prompt:
        """The prompt for one input: ``prompt.format(text=..., pair=...)``."""
        text, pair = (x, None) if isinstance(x, str) else x
        if self.uses_pair != (pair is not None):
            need = "(text, pair) pairs" if self.uses_pair else "single texts"
            raise SUAInputError(f"template {self.name!r} takes {need}, got {x!r:.80}")
        return Prompt(self.prompt.format(text=text, pair=pair), self.chat, self.system)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptTemplate:
        unknown = sorted(set(data) - _KEYS)
        if unknown or "name" not in data or "prompt" not in data:
            raise SUAInputError(f"a template needs 'name' and 'prompt' and may have {sorted(_KEYS)}; "
                                f"got keys {sorted(data)}")
        return cls(**{**data, "stop": tuple(data.get("stop", ())), "choices": dict(data.get("choices", {}))})


def available_templates() -> list[str]:
    """Names of the templates shipped with ``sua`` (``sua/models/templates/*.json``)."""
    folder = resources.files("sua.models").joinpath("templates")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_template(name_or_path: str | os.PathLike[str] | PromptTemplate) -> PromptTemplate:
    """A shipped template by name (see :func:`available_templates`), or one from a JSON file."""
    if isinstance(name_or_path, PromptTemplate):
        return name_or_path
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        text = path.read_text(encoding="utf-8")
    elif str(name_or_path) in available_templates():
        shipped = resources.files("sua.models").joinpath("templates", f"{name_or_path}.json")
        text = shipped.read_text(encoding="utf-8")
    else:
        raise SUAInputError(f"unknown prompt template {str(name_or_path)!r}: pass a JSON file or one "
                            f"of {available_templates()}")
    try:
        return PromptTemplate.from_dict(json.loads(text))
    except json.JSONDecodeError as err:
        raise SUAInputError(f"template {str(name_or_path)!r} is not valid JSON ({err})") from None
