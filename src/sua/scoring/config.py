"""The settings every scorer takes, as small frozen objects checked once when they are made.

:class:`ScoringConfig` is what determines a scorer's numbers (K rewrites, the divergence D, λ,
the seed, the rewritten side, the signature's thresholds); :class:`Fields` names the record
fields an input file is read with. Their defaults are :mod:`sua.defaults`'.

>>> ScoringConfig(k=4).k, ScoringConfig().divergence, ScoringConfig().lam
(4, 'jsd', 1.0)
>>> Fields("premise", "hypothesis").reader()
{'text_field': 'premise', 'pair_field': 'hypothesis', 'label_field': 'label', 'id_field': 'id'}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sua import defaults
from sua.errors import SUAInputError
from sua.measures import get_divergence
from sua.perturb.base import is_int
from sua.tasks import TaskKind, check_perturb_field


@dataclass(frozen=True)
class ScoringConfig:
    """What determines a scorer's numbers, SUA(x) = Ŝ(x) − λ·H(x) with
    Ŝ(x) = (1/K) Σ_k D(p(·|x) ‖ p(·|x'_k)):

    - ``k``: rewrites x'_1..x'_K drawn per input (an integer >= 1);
    - ``divergence``: the name of D in :mod:`sua.measures`' registry;
    - ``lam``: the alignment coefficient λ (finite, >= 0);
    - ``seed``: the rewrites are drawn with it, per input id;
    - ``perturb_field``: the side of a text pair that is rewritten, ``"pair"``, ``"text"`` or
      ``"auto"`` (the pair when there is one; :mod:`sua.tasks`);
    - ``thresholds``: passed to :func:`sua.measures.signature`.

    >>> ScoringConfig(k=0)
    Traceback (most recent call last):
    ...
    sua.errors.SUAInputError: k (perturbations per input) must be an integer >= 1, got 0
    """

    k: int = defaults.K
    divergence: str = defaults.DIVERGENCE
    lam: float = defaults.LAM
    seed: int = 0
    perturb_field: str = "auto"
    thresholds: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not is_int(self.k) or self.k < 1:
            raise SUAInputError(f"k (perturbations per input) must be an integer >= 1, got {self.k!r}")
        if not 0 <= self.lam < math.inf:
            raise SUAInputError(f"lam must be a finite number >= 0, got {self.lam!r}")
        check_perturb_field(self.perturb_field)
        get_divergence(self.divergence)  # fail now, not after the first model pass
        object.__setattr__(self, "k", int(self.k))
        object.__setattr__(self, "lam", float(self.lam))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "thresholds", dict(self.thresholds or {}))


@dataclass(frozen=True)
class Fields:
    """The record fields an input file is read with (:func:`sua.io.iter_examples`): the
    (first) text, the second text of a pair (``None``: single texts), the gold label (``None``:
    unlabelled; extractive and generative QA: the gold answers) and the id."""

    text_field: str = "text"
    pair_field: str | None = None
    label_field: str | None = "label"
    id_field: str = "id"

    def reader(self) -> dict[str, Any]:
        """The keywords :func:`sua.io.iter_examples` and :func:`sua.tables.as_examples` take."""
        return dataclasses.asdict(self)

    @classmethod
    def of_task(cls, kind: TaskKind, *, text_field: str | None = None, pair_field: str | None = None,
                label_field: str | None = None, id_field: str = "id") -> Fields:
        """The fields of task ``kind``, each replaced by the one given where that is not ``None``;
        ``""`` for the pair or label field means none. This is the one place a task's fields
        become defaults (``sua score --text-field``... and :func:`~sua.scoring.run.score_request`).

        >>> from sua.tasks import KINDS
        >>> Fields.of_task(KINDS["nli"], pair_field="", id_field="uid")
        Fields(text_field='premise', pair_field=None, label_field='label', id_field='uid')
        >>> Fields.of_task(KINDS["qa"]).label_field
        'answers'
        """
        return cls(text_field=text_field or kind.text_field,
                   pair_field=(pair_field if pair_field is not None else kind.pair_field) or None,
                   label_field=(label_field if label_field is not None else kind.gold_field) or None,
                   id_field=id_field)
