"""The input record every layer shares: one example, single text or text pair."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sua.errors import SUAInputError

#: What a model adapter consumes: a single text, or a (first, second) pair such as
#: (premise, hypothesis) for NLI.
ModelInput = str | tuple[str, str]


@dataclass(frozen=True)
class Example:
    """One input x.

    ``text`` is the single text (classification) or the first segment (NLI premise);
    ``pair`` is the second segment (NLI hypothesis) or ``None``. ``label`` is the gold
    label name when known. ``meta`` keeps any other fields of the source record.

    >>> Example("snli-0", "A man plays.", pair="Someone plays.").model_input()
    ('A man plays.', 'Someone plays.')
    """

    id: str
    text: str
    pair: str | None = None
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise SUAInputError(f"example id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.text, str) or not self.text.strip():
            raise SUAInputError(f"example {self.id!r}: text is empty")
        if self.pair is not None and (not isinstance(self.pair, str) or not self.pair.strip()):
            raise SUAInputError(f"example {self.id!r}: pair text is empty")

    def model_input(self) -> ModelInput:
        """The value a model adapter receives: ``text`` or ``(text, pair)``."""
        return self.text if self.pair is None else (self.text, self.pair)
