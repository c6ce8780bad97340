"""The Q_x a model is scored under (sua.perturb.qx): distinct draws as the model sees them, the
adversarial family present whenever a model is given, model-free proposals shared across models."""

from __future__ import annotations

import numpy as np
import pytest

from sua.errors import SUAInputError
from sua.models import CallableModel
from sua.perturb import MixturePerturber, Perturbation
from sua.perturb.mixture import model_input_key
from sua.perturb.qx import model_qx
from sua.train.config import make_config
from sua.train.rewrites import make_perturber

LABELS = ["entailment", "neutral", "contradiction"]


class Fixed:
    """A family proposing a fixed list of texts, in order."""

    family = "token"

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def __repr__(self) -> str:
        return f"Fixed({self.texts!r})"

    def propose(self, text, n, *, input_id, seed):
        return [Perturbation(t, "stub", self.family, {}, seed) for t in self.texts[:n]]

    def perturb(self, text, k, *, input_id, seed):
        return self.propose(text, k, input_id=input_id, seed=seed)


def _word_count_model(inputs):
    """Class probabilities from the (lower-cased) word count of the hypothesis: a real function of
    the input, so a rewrite that changes the words changes p."""
    rows = []
    for x in inputs:
        n = len(str(x[1] if isinstance(x, tuple) else x).lower().split())
        logits = np.array([np.sin(n), np.cos(n), 0.3 * n])
        rows.append(np.exp(logits) / np.exp(logits).sum())
    return np.array(rows)


class _Adapter:
    """A model with an uncased tokenizer, as the HF adapters expose it."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.labels = LABELS

    def predict_proba(self, inputs):
        return _word_count_model(inputs)


def test_distinct_as_the_model_sees_them(tokenizer) -> None:
    key = model_input_key(_Adapter(tokenizer))
    assert key("A Man Sleeps.") == key("a man sleeps.") != key("a man sleeps!")
    # casing changes are invisible to the uncased MiniLM tokenizer: they neither count as a draw
    # nor as a second copy; the source itself is never a draw
    family = Fixed(["A MAN SLEEPS.", "A man sleeps!", "a MAN sleeps!", "A man naps.", "A man dozes."])
    mix = MixturePerturber({"token": family}, {"token": 1.0}, constraints=[], distinct_key=key)
    draws = mix.perturb("A man sleeps.", 2, input_id="x", seed=0)
    assert [d.text for d in draws] == ["A man sleeps!", "A man naps."]
    plain = MixturePerturber({"token": family}, {"token": 1.0}, constraints=[])
    assert [d.text for d in plain.perturb("A man sleeps.", 2, input_id="x", seed=0)] == \
        ["A MAN SLEEPS.", "A man sleeps!"]
    assert model_input_key(CallableModel(_word_count_model, labels=LABELS)) is None


def test_a_mixture_built_for_a_model_counts_draws_as_it_sees_them(tokenizer) -> None:
    # no key given: the model's own tokenizer decides (SUA-TR's training Q_x for the mixture
    # preset is built this way, through the registry, against the model being trained)
    family = Fixed(["A MAN SLEEPS.", "A man sleeps!", "a MAN sleeps!", "A man naps."])
    mix = MixturePerturber({"token": family}, {"token": 1.0}, model=_Adapter(tokenizer), constraints=[])
    assert [d.text for d in mix.perturb("A man sleeps.", 2, input_id="x", seed=0)] == \
        ["A man sleeps!", "A man naps."]
    trained = make_perturber(make_config("sua-tr-mixture"), model=_Adapter(tokenizer))
    assert set(trained.weights) == {"paraphrase", "token", "adversarial"}
    ids = tuple(tokenizer("a man sleeps.", add_special_tokens=False)["input_ids"])
    assert trained.distinct_key("A Man Sleeps.") == trained.distinct_key("a man sleeps.") == ids


def test_model_qx_mixes_the_adversarial_family_and_shares_model_free_draws(tokenizer, tmp_path) -> None:
    hypothesis, premise = "Two dogs run across a wide green field .", "Dogs play outside ."
    to_input = {"h1": premise}

    def build(model):
        return model_qx("mixture", model, cache_dir=tmp_path,
                        to_model_input=lambda i, text: (to_input[i], text))

    first = build(_Adapter(tokenizer))
    assert first.dropped == () and set(first.weights) == {"paraphrase", "token", "adversarial"}
    draws = first.perturb(hypothesis, 8, input_id="h1", seed=0)
    assert len(draws) == 8
    keys = [model_input_key(_Adapter(tokenizer))(d.text) for d in draws]
    assert len(set(keys)) == 8 and model_input_key(_Adapter(tokenizer))(hypothesis) not in keys
    assert "adversarial" in {d.family for d in draws}
    token_cache = first.families["token"]
    assert token_cache.misses == 1 and token_cache.hits == 0
    # a second model reuses the model-free proposals from the run's cache
    second = build(_Adapter(tokenizer))
    again = second.perturb(hypothesis, 8, input_id="h1", seed=0)
    assert second.families["token"].hits == 1 and second.families["paraphrase"].hits == 1
    assert [d.text for d in again if d.family != "adversarial"] == \
        [d.text for d in draws if d.family != "adversarial"]


def test_model_qx_settings(tokenizer, tmp_path) -> None:
    token_only = model_qx("token", _Adapter(tokenizer), cache_dir=tmp_path)
    assert set(token_only.weights) == {"token"}
    span_model = type("Spans", (), {"tokenizer": tokenizer})()  # no predict_proba: no adversarial
    assert model_qx("mixture", span_model, cache_dir=tmp_path).dropped == ("adversarial",)
    with pytest.raises(SUAInputError, match="Q_x setting"):
        model_qx("typos", _Adapter(tokenizer), cache_dir=tmp_path)


def test_the_cached_q_x_pickles_for_worker_processes(tokenizer, tmp_path) -> None:
    import pickle

    qx = model_qx("token", _Adapter(tokenizer), cache_dir=tmp_path)
    draws = qx.perturb("A man is playing a guitar on stage .", 4, input_id="g", seed=0)
    copy = pickle.loads(pickle.dumps(qx))
    assert copy.perturb("A man is playing a guitar on stage .", 4, input_id="g", seed=0) == draws
    assert copy.families["token"].hits == 1  # the copy reconnected to the same cache file
