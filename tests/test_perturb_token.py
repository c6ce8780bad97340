"""TokenPerturber: determinism, exactly-k records, what each kind may change, protected spans,
kind frequencies, fallbacks, argument checks and the registry."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sua.errors import SUAInputError
from sua.perturb import (
    PERTURBERS,
    Perturber,
    TokenPerturber,
    combine_protectors,
    get_perturber,
    protect_negations,
    protect_numbers,
)
from sua.perturb.typos import KEYBOARD_NEIGHBOURS, TYPO_OPS

ALL_KINDS = ("typo", "casing", "punctuation", "whitespace")
PROTECTED_TEXTS = [
    "The man is not sleeping, he has 3 dogs and 12.5 cats.",
    "Nobody won't eat the 2 apples without a fork .",
    "Two women never hug outside 10 delis, nothing else happens",
    "There are 1,000 people here and none of them is wearing a hat.",
]
ANSWER = "Denver Broncos"
ANSWER_TEXT = "Which team won Super Bowl 50? The Denver Broncos defeated the Carolina Panthers."


@pytest.fixture(scope="module")
def hypotheses(snli_dev: Path) -> list[tuple[str, str]]:
    """(id, hypothesis) of the first 50 SNLI dev pairs, read at test time."""
    with snli_dev.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line, _ in zip(fh, range(50), strict=False)]
    return [(row["id"], row["hypothesis"]) for row in rows]


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def replay(source: str, params: dict) -> str:
    """Apply a record's edits (source coordinates) to the source, right to left."""
    text = source
    for e in sorted(params["edits"], key=lambda e: e.get("start", 0), reverse=True):
        if e["op"] == "lower":
            text = text.lower()
        else:
            assert text[e["start"]:e["start"] + len(e["before"])] == e["before"]
            text = text[:e["start"]] + e["after"] + text[e["start"] + len(e["before"]):]
    return text


def draws(perturber: TokenPerturber, texts: list[tuple[str, str]], k: int = 8, seed: int = 0):
    """(source, record) for every draw of every text."""
    return [(text, d) for i, text in texts
            for d in perturber.perturb(text, k, input_id=i, seed=seed)]


def answer_span(text: str) -> list[tuple[int, int]]:
    start = text.find(ANSWER)
    return [(start, start + len(ANSWER))] if start >= 0 else []


# -- determinism ---------------------------------------------------------------------------


def test_same_arguments_give_identical_records(hypotheses):
    a = TokenPerturber(kinds=ALL_KINDS, max_edits=2)
    b = TokenPerturber(kinds=ALL_KINDS, max_edits=2)
    first = draws(a, hypotheses)
    assert [d.to_dict() for _, d in first] == [d.to_dict() for _, d in draws(b, hypotheses)]
    assert sum(d.text != src for src, d in first) == len(first) == 400


def test_results_do_not_depend_on_call_order(hypotheses):
    p = TokenPerturber()
    in_order = {i: [d.to_dict() for d in p.perturb(t, 5, input_id=i, seed=3)]
                for i, t in hypotheses}
    shuffled = hypotheses[:]
    random.Random(1).shuffle(shuffled)
    assert shuffled != hypotheses
    for i, t in shuffled:
        p.perturb("An unrelated sentence, in between.", 7, input_id="other", seed=3)
        assert [d.to_dict() for d in p.perturb(t, 5, input_id=i, seed=3)] == in_order[i]


def test_first_draws_do_not_depend_on_k(hypotheses):
    p = TokenPerturber(kinds=ALL_KINDS, max_edits=3)
    for i, t in hypotheses:
        assert p.perturb(t, 3, input_id=i, seed=0) == p.perturb(t, 8, input_id=i, seed=0)[:3]


@pytest.mark.parametrize("change", ["seed", "input_id"])
def test_seed_and_input_id_change_the_draws(hypotheses, change):
    p = TokenPerturber()
    differ = 0
    for i, t in hypotheses:
        base = [d.text for d in p.perturb(t, 8, input_id=i, seed=0)]
        other = p.perturb(t, 8, input_id=i + "x" if change == "input_id" else i,
                          seed=1 if change == "seed" else 0)
        differ += base != [d.text for d in other]
    assert differ >= 45


# -- records -------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 7, 33])
def test_exactly_k_json_ready_records(hypotheses, k):
    p = TokenPerturber(kinds=ALL_KINDS, max_edits=2)
    for i, t in hypotheses[:10]:
        out = p.perturb(t, k, input_id=i, seed=5)
        assert len(out) == k
        for d in out:
            assert d.family == "token" and d.seed == 5
            assert d.kind in ALL_KINDS
            assert json.loads(json.dumps(d.to_dict())) == d.to_dict()


def test_edit_records_replay_on_the_source(hypotheses):
    p = TokenPerturber(kinds=ALL_KINDS, max_edits=3)
    for src, d in draws(p, hypotheses + [("p", t) for t in PROTECTED_TEXTS]):
        assert 1 <= len(d.params["edits"]) <= 3
        assert replay(src, d.params) == d.text


# -- what each kind changes ----------------------------------------------------------------


@pytest.mark.parametrize("max_edits", [1, 2, 3])
def test_typos_stay_within_max_edits_and_keep_first_letters(hypotheses, max_edits):
    p = TokenPerturber(kinds=("typo",), max_edits=max_edits)
    n_edits = Counter()
    for src, d in draws(p, hypotheses):
        assert d.kind == "typo" and d.text != src
        assert osa_distance(src, d.text) <= max_edits
        n_edits[len(d.params["edits"])] += 1
        words, new_words = src.split(), d.text.split()
        assert len(words) == len(new_words)
        assert [w[0] for w in words] == [w[0] for w in new_words]
        assert re.sub("[A-Za-z]", "", d.text) == re.sub("[A-Za-z]", "", src)
        for e in d.params["edits"]:
            assert e["op"] in TYPO_OPS and len(e["before"]) >= 4 and e["pos"] >= 1
    assert set(n_edits) == set(range(1, max_edits + 1))


def test_typos_strike_keyboard_neighbours_and_keep_case():
    p = TokenPerturber(kinds=("typo",))
    text = "SHOUTING Quietly spoken Words"
    seen = set()
    for seed in range(300):
        for d in p.perturb(text, 4, input_id="kb", seed=seed):
            (e,) = d.params["edits"]
            before, after, pos = e["before"], e["after"], e["pos"]
            seen.add(e["op"])
            if e["op"] == "substitute":
                assert after[pos].lower() in KEYBOARD_NEIGHBOURS[before[pos].lower()]
                assert after[pos].isupper() == before[pos].isupper()
            if e["op"] == "insert":
                assert after[pos].lower() in KEYBOARD_NEIGHBOURS[before[pos - 1].lower()]
                assert after[pos].isupper() == before.isupper()
    assert seen == set(TYPO_OPS)


def test_typo_op_that_cannot_apply_is_redrawn():
    # "Aaaa" has no two different adjacent letters after the first: transposition is impossible
    p = TokenPerturber(kinds=("typo",))
    out = p.perturb("Aaaa", 200, input_id="a", seed=0)
    ops = Counter(d.params["edits"][0]["op"] for d in out)
    assert "transpose" not in ops and set(ops) == {"substitute", "delete", "insert"}
    assert all(d.kind == "typo" and d.text != "Aaaa" for d in out)


def test_casing_changes_only_case(hypotheses):
    p = TokenPerturber(kinds=("casing",), max_edits=2)
    ops = Counter()
    for src, d in draws(p, hypotheses):
        assert d.kind == "casing" and d.text != src
        assert d.text.lower() == src.lower()
        for e in d.params["edits"]:
            ops[e["op"]] += 1
            if e["op"] == "lower":
                assert d.text == src.lower()
            else:
                assert e["after"] == e["before"][0].swapcase() + e["before"][1:]
    assert set(ops) == {"lower", "toggle_first", "toggle_word"}


def test_punctuation_keeps_letters_and_digits(hypotheses):
    p = TokenPerturber(kinds=("punctuation",), max_edits=2)
    texts = hypotheses + [("p", t) for t in PROTECTED_TEXTS]
    ops = Counter()
    for src, d in draws(p, texts):
        assert d.kind == "punctuation" and d.text != src
        assert re.sub(r"[\W_]", "", d.text) == re.sub(r"[\W_]", "", src)
        changed = (Counter(src) - Counter(d.text)) + (Counter(d.text) - Counter(src))
        assert set(changed) <= {" ", ".", ","}
        ops.update(e["op"] for e in d.params["edits"])
    assert set(ops) == {"add_period", "remove_period", "remove_comma", "attach_final",
                        "detach_final"}


def test_tokenised_final_period_is_attached_and_detached():
    p = TokenPerturber(kinds=("punctuation",))
    out = {d.text for d in p.perturb("Two women hold packages .", 50, input_id="t", seed=0)}
    assert out == {"Two women hold packages.", "Two women hold packages"}
    out = {d.text for d in p.perturb("Two women hold packages.", 50, input_id="t", seed=0)}
    assert out == {"Two women hold packages .", "Two women hold packages"}


def test_only_commas_before_a_space_are_removed():
    p = TokenPerturber(kinds=("punctuation",))
    out = {d.text for d in p.perturb("Pay 1,000 dollars , red,green, now", 60, input_id="c", seed=0)}
    assert out == {"Pay 1,000 dollars red,green, now", "Pay 1,000 dollars , red,green now",
                   "Pay 1,000 dollars , red,green, now."}


def test_abbreviation_dot_is_not_a_full_stop():
    p = TokenPerturber(kinds=("punctuation",))
    out = p.perturb("He lives in the U.S.", 20, input_id="t", seed=0)
    assert {(d.kind, d.text) for d in out} == {("identity", "He lives in the U.S.")}


def test_whitespace_changes_only_spacing(hypotheses):
    p = TokenPerturber(kinds=("whitespace",), max_edits=2)
    texts = hypotheses + [("w", "Two  women   hug .")]
    ops = Counter()
    for src, d in draws(p, texts):
        assert d.kind == "whitespace" and d.text != src
        assert d.text.split() == src.split()
        ops.update(e["op"] for e in d.params["edits"])
    assert set(ops) == {"double_space", "strip_double"}


# -- protected spans -----------------------------------------------------------------------

NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")


def _negations(text: str) -> list[str]:
    return [text[s:e] for s, e in protect_negations(text)]


def _edits_avoid(spans: list[tuple[int, int]], text: str, params: dict) -> bool:
    """No edit touches a span; whole-text lowercasing leaves every span as it is."""
    for e in params["edits"]:
        if e["op"] == "lower":
            if any(text[s:t].lower() != text[s:t] for s, t in spans):
                return False
        else:
            a, b = e["start"], e["start"] + len(e["before"])
            if any(s < b and a < t for s, t in spans):  # an insertion (a == b) strictly inside
                return False
    return True


def test_numbers_and_negations_are_byte_identical():
    protect = combine_protectors(protect_numbers, protect_negations)
    p = TokenPerturber(kinds=ALL_KINDS, max_edits=3, protect=protect)
    for text in PROTECTED_TEXTS:
        spans = protect(text)
        assert len(spans) >= 2
        for seed in range(50):
            for d in p.perturb(text, 8, input_id="prot", seed=seed):
                assert _edits_avoid(spans, text, d.params)
                assert NUMBER.findall(d.text) == NUMBER.findall(text)
                assert _negations(d.text) == _negations(text)


def test_answer_span_is_byte_identical_and_protection_matters():
    protected = TokenPerturber(kinds=ALL_KINDS, max_edits=3, protect=answer_span)
    unprotected = TokenPerturber(kinds=ALL_KINDS, max_edits=3)
    lost = 0
    for seed in range(100):
        for d in protected.perturb(ANSWER_TEXT, 8, input_id="qa", seed=seed):
            assert ANSWER in d.text
            assert _edits_avoid(answer_span(ANSWER_TEXT), ANSWER_TEXT, d.params)
        lost += sum(ANSWER not in d.text
                    for d in unprotected.perturb(ANSWER_TEXT, 8, input_id="qa", seed=seed))
    assert lost > 50


def test_typos_never_create_or_remove_negations_even_unprotected():
    # "note" -> "not" (delete) and "nine" -> "none" (substitute) would create a negation
    p = TokenPerturber(kinds=("typo",), max_edits=2)
    text = "Take note of nine dogs that never bark and nothing else"
    made = set()
    for seed in range(200):
        for d in p.perturb(text, 8, input_id="neg", seed=seed):
            assert [w.lower() for w in _negations(d.text)] == ["never", "nothing"]
            made.update(e["before"] for e in d.params["edits"])
    assert {"note", "nine"} <= made and not {"never", "nothing"} & made


def test_lowercasing_is_skipped_when_it_would_change_a_protected_span():
    p = TokenPerturber(kinds=("casing",), protect=answer_span)
    ops = {d.params["edits"][0]["op"] for d in p.perturb(ANSWER_TEXT, 100, input_id="c", seed=0)}
    assert ops == {"toggle_first", "toggle_word"}
    unprotected = TokenPerturber(kinds=("casing",))
    ops = {d.params["edits"][0]["op"]
           for d in unprotected.perturb(ANSWER_TEXT, 100, input_id="c", seed=0)}
    assert "lower" in ops


def test_protectors_find_their_spans():
    text = "Nobody doesn't pay 1,000 or 3.5 at 10:30; he does n't, not NEVER. Notes, nonetheless."
    assert [text[s:e] for s, e in protect_numbers(text)] == ["1,000", "3.5", "10:30"]
    assert _negations(text) == ["Nobody", "doesn't", "n't", "not", "NEVER"]
    both = combine_protectors(protect_numbers, protect_negations)
    assert both(text) == sorted(protect_numbers(text) + protect_negations(text))
    assert both.__qualname__ == "combine_protectors(protect_numbers, protect_negations)"
    assert "0x" not in repr(TokenPerturber(protect=both))


# -- kind choice and fallbacks -------------------------------------------------------------

# chi-square 0.9999 quantiles for 1..3 degrees of freedom
CHI2 = {1: 15.14, 2: 18.42, 3: 21.11}


def _chi_square(counts: Counter, expected: dict[str, float]) -> float:
    n = sum(counts.values())
    total = sum(expected.values())
    return sum((counts[k] - n * w / total) ** 2 / (n * w / total) for k, w in expected.items())


def test_kind_frequencies_follow_the_weights():
    text = "The quick brown fox jumps over the lazy dog, and it runs ."
    weights = {"typo": 0.5, "casing": 0.3, "punctuation": 0.2, "whitespace": 0.0}
    p = TokenPerturber(kinds=tuple(weights), weights=tuple(weights.values()))
    counts = Counter(d.kind for d in p.perturb(text, 6000, input_id="w", seed=0))
    assert counts["whitespace"] == 0
    assert _chi_square(counts, {k: w for k, w in weights.items() if w}) < CHI2[2]
    uniform = Counter(d.kind for d in TokenPerturber().perturb(text, 6000, input_id="u", seed=0))
    assert _chi_square(uniform, dict.fromkeys(("typo", "casing", "punctuation"), 1.0)) < CHI2[2]


def test_weights_are_renormalised_over_applicable_kinds():
    # no word has 4 letters: typo cannot apply, so casing:punctuation = 0.3:0.2
    p = TokenPerturber(weights=(0.5, 0.3, 0.2))
    counts = Counter(d.kind for d in p.perturb("A cat sat on a mat.", 5000, input_id="r", seed=0))
    assert set(counts) == {"casing", "punctuation"}
    assert _chi_square(counts, {"casing": 0.3, "punctuation": 0.2}) < CHI2[1]
    assert not any("fallback" in d.params
                   for d in p.perturb("A cat sat.", 50, input_id="r", seed=0))


def test_zero_weight_kinds_are_a_deterministic_fallback():
    p = TokenPerturber(weights=(1, 0, 0))
    out = p.perturb("A cat sat.", 20, input_id="f", seed=0)
    assert {d.kind for d in out} == {"casing"} and all(d.params["fallback"] for d in out)
    assert all(d.kind == "typo" and "fallback" not in d.params
               for d in p.perturb("A big kitten sat.", 20, input_id="f", seed=0))


@pytest.mark.parametrize("text, kinds", [
    ("ok", ("typo",)),
    ("?!", ("typo", "casing", "punctuation")),
    ("42 ...", ("typo", "casing", "punctuation")),
    ("ok", ("whitespace",)),
])
def test_identity_when_no_kind_can_change_the_text(text, kinds):
    out = TokenPerturber(kinds=kinds).perturb(text, 4, input_id="id", seed=0)
    assert [(d.text, d.kind, d.params) for d in out] == [
        (text, "identity", {"reason": "no applicable edit"})] * 4


def test_short_text_is_still_changed_when_some_kind_applies():
    out = {d.text for d in TokenPerturber().perturb("ok", 40, input_id="ok", seed=0)}
    assert out == {"Ok", "ok."}


# -- arguments and registry ----------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    ({"kinds": ()}, "non-empty"),
    ({"kinds": "typo"}, "sequence of kind names"),
    ({"kinds": ("typo", "spelling")}, "unknown perturbation kind.*spelling.*known"),
    ({"kinds": ("typo", "typo")}, "twice"),
    ({"weights": (1, 1)}, "one number per kind"),
    ({"weights": (1, -1, 1)}, "non-negative"),
    ({"weights": (0, 0, 0)}, "sum to more than 0"),
    ({"weights": (1, float("nan"), 1)}, "finite"),
    ({"max_edits": 0}, "max_edits"),
    ({"max_edits": 1.5}, "max_edits"),
    ({"protect": "numbers"}, "protect"),
])
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(SUAInputError, match=match):
        TokenPerturber(**kwargs)


@pytest.mark.parametrize("text, k, input_id, seed, match", [
    ("", 3, "a", 0, "non-empty string"),
    (None, 3, "a", 0, "non-empty string"),
    ("A dog.", 0, "a", 0, "k"),
    ("A dog.", 2.0, "a", 0, "k"),
    ("A dog.", True, "a", 0, "k"),
    ("A dog.", 3, 7, 0, "input_id"),
    ("A dog.", 3, "a", -1, "seed"),
])
def test_bad_call_raises(text, k, input_id, seed, match):
    with pytest.raises(SUAInputError, match=match):
        TokenPerturber().perturb(text, k, input_id=input_id, seed=seed)


def test_registry_builds_token_perturbers():
    p = get_perturber("token", kinds=("typo",), max_edits=2)
    assert isinstance(p, TokenPerturber) and isinstance(p, Perturber)
    assert (p.kinds, p.max_edits) == (("typo",), 2)
    assert PERTURBERS["token"] is TokenPerturber
    with pytest.raises(SUAInputError, match="unknown perturber 'spelling'.*'token'"):
        get_perturber("spelling")


# -- any text ------------------------------------------------------------------------------

TEXTS = st.text(st.one_of(st.sampled_from(list("abcdeNOTXYZ  ,.!?'’0123456789ßİé")),
                          st.characters(exclude_categories=("Cs",))), min_size=1, max_size=40)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(text=TEXTS, k=st.integers(1, 5), seed=st.integers(0, 2**32))
def test_any_text_gives_k_valid_records(text, k, seed):
    out = TokenPerturber(kinds=ALL_KINDS, max_edits=2).perturb(text, k, input_id=text, seed=seed)
    assert len(out) == k
    for d in out:
        assert json.loads(json.dumps(d.to_dict())) == d.to_dict()
        if d.kind == "identity":
            assert d.text == text
        else:
            assert d.text != text and bool(d.text.strip()) == bool(text.strip())
            assert replay(text, d.params) == d.text
            assert NUMBER.findall(d.text) == NUMBER.findall(text)
