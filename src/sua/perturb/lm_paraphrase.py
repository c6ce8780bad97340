"""LM-sampled paraphrases: a language model rewrites x, and the rewrites that keep the meaning stay.

A prompt template (default ``paraphrase``, shipped in ``sua/models/templates``) asks for a
rewrite; ``generate(prompt, n, seed)`` samples ``n`` candidates (any text-generation callable,
e.g. :func:`sua.models.generation.sampling_fn` over an ``HFCausalLM`` or ``OpenAILM``). A
candidate is kept when, after cleaning (first line, surrounding quotes and spaces removed), it
changes at least one word, is not a repeat, and passes every validity constraint — by default
:func:`~sua.perturb.constraints.default_constraints` (MiniLM cosine >= 0.8, at most half the
words modified, and the protected strings kept when ``protect`` is given), the same checks the
mixture applies to every family. Records are kind ``lm_paraphrase``, family ``paraphrase``,
with the constraint verdicts and the similarity filled in.

Deterministic: the generation seed is drawn from the input's own stream
(:func:`~sua.perturb.base.input_rng` of ``(seed, input_id)``), so with a backend that seeds its
sampling (both shipped backends do) the same (text, input id, seed) gives the same rewrites.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sua.models.prompts import Prompt, PromptTemplate, load_template
from sua.perturb.base import Perturbation, check_request, input_rng, repeat_to_k
from sua.perturb.constraints import Constraint, default_constraints, is_valid, modified_words, validate
from sua.perturb.protect import Protector

FAMILY = "paraphrase"
KIND = "lm_paraphrase"
_QUOTES = "\"'“”‘’`"

#: ``(prompt, n, seed) -> n sampled texts``.
GenerateFn = Callable[[Prompt, int, int], Sequence[str]]


def clean_rewrite(text: str) -> str:
    """The first non-blank line of a model's answer, without surrounding quotes or spaces."""
    line = next((s for s in text.splitlines() if s.strip()), "")
    return line.strip().strip(_QUOTES).strip()


class LMParaphrasePerturber:
    """Prompted, sampled rewrites filtered by validity constraints (module doc).

    ``propose(text, n)`` samples ``candidates_per_draw · n`` candidates and returns up to ``n``
    valid, distinct ones; ``perturb`` returns exactly ``k`` (cycled when short, marked
    ``params["repeat"]``; ``k`` identities when none is valid).

    >>> # lm = HFCausalLM()
    >>> # p = LMParaphrasePerturber(sampling_fn(lm, SamplingConfig(temperature=0.9, max_new_tokens=48)))
    >>> # p.perturb("Which team won Super Bowl 50?", 4, input_id="q1", seed=0)
    """

    family = FAMILY

    def __init__(self, generate: GenerateFn, *, template: str | PromptTemplate = "paraphrase",
                 constraints: Sequence[Constraint] | None = None, protect: Protector | None = None,
                 candidates_per_draw: int = 2) -> None:
        self.generate = generate
        self.template = load_template(template)
        self.protect = protect
        self.constraints = list(default_constraints(protect) if constraints is None else constraints)
        self.candidates_per_draw = candidates_per_draw

    def __repr__(self) -> str:
        t = self.template
        return (f"LMParaphrasePerturber({getattr(self.generate, '__qualname__', self.generate)}, "
                f"template={t.name!r} v{t.version}, constraints={self.constraints}, "
                f"candidates_per_draw={self.candidates_per_draw})")

    def propose(self, text: str, n: int, *, input_id: str, seed: int) -> list[Perturbation]:
        check_request(text, n, input_id, seed)
        draw_seed = int(input_rng(seed, input_id).integers(2**31))
        raw = self.generate(self.template.render(text), self.candidates_per_draw * n, draw_seed)
        found: dict[str, int] = {}
        for i, candidate in enumerate(map(clean_rewrite, raw)):
            if candidate and candidate not in found and modified_words(text, candidate) > 0:
                found[candidate] = i
        records = [Perturbation(c, KIND, FAMILY, {"template": self.template.name, "sample": i}, int(seed))
                   for c, i in found.items()]
        return [r for r in validate(text, records, self.constraints) if is_valid(r)][:n]

    def perturb(self, text: str, k: int, *, input_id: str, seed: int) -> list[Perturbation]:
        return repeat_to_k(self.propose(text, k, input_id=input_id, seed=seed), k, text, FAMILY, int(seed))
