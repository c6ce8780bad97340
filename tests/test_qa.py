"""Extractive QA end to end: SQuAD EM/F1, the span distribution against a brute force, aligned
context windows, QAScorer records and resume, the two-head SUA-TR loss, QA training and resume."""

from __future__ import annotations

import json
import shutil
from itertools import islice

import numpy as np
import pytest
import torch
from conftest import tiny_bert_config

from sua.errors import SUAInputError
from sua.inputs import Example
from sua.io import iter_examples
from sua.measures import divergence, entropy, exact_match, f1_score, normalize_answer
from sua.models import ModelOptions
from sua.perturb import TokenPerturber
from sua.perturb.base import Perturbation
from sua.scoring import QAScorer, meta_path_for
from sua.train import Runtime, SUATrainer, SUATRLoss, TrainData, make_config, train_model

MAX_LENGTH = 64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- SQuAD metrics ------------------------------------------------------------------------------

def test_squad_normalisation_exact_match_and_f1_by_hand():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple a day, the end.") == "apple day end"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words
    assert normalize_answer("U.S.-based") == "usbased"
    assert exact_match("the Denver Broncos.", ["Denver Broncos", "Broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0
    assert exact_match("x", []) == 0.0 and f1_score("x", []) == 0.0
    # "denver broncos team" vs "denver broncos": P = 2/3, R = 1, F1 = 0.8
    assert f1_score("the Denver Broncos team", ["Denver Broncos"]) == pytest.approx(0.8)
    # best over golds: vs "broncos" P = 1/2, R = 1 -> 2/3; vs "carolina panthers" 0
    assert f1_score("Denver Broncos", ["Carolina Panthers", "the Broncos"]) == pytest.approx(2 / 3)
    # counts with multiplicity: pred "a b b", gold "b b c" (no articles here): common 2 -> P = R = 2/3
    assert f1_score("x y y", ["y y z"]) == pytest.approx(2 / 3)
    assert f1_score("the", ["The"]) == 0.0  # empty after normalisation: 0, as in SQuAD v1.1
    assert f1_score("Paris!", ["paris"]) == 1.0


# -- a tiny random QA model on MiniLM's vocabulary ---------------------------------------------

def tiny_qa(tokenizer, dropout: float = 0.1, seed: int = 0):
    from transformers import BertForQuestionAnswering

    config = tiny_bert_config(tokenizer, dropout=dropout, max_positions=MAX_LENGTH, seed=seed)
    return BertForQuestionAnswering(config)


@pytest.fixture(scope="module")
def qa(tokenizer):
    from sua.models import HFExtractiveQA

    return HFExtractiveQA(tiny_qa(tokenizer, dropout=0.0), tokenizer, max_question_tokens=12,
                          max_answer_tokens=6, top_n=5,
                          options=ModelOptions(max_length=MAX_LENGTH, batch_size=3))


@pytest.fixture(scope="module")
def squad(data_dir) -> list[Example]:
    path = data_dir / "qa" / "squad" / "dev.jsonl"
    return list(iter_examples(path, text_field="context", pair_field="question", limit=120))


CONTEXT = ("Super Bowl 50 was an American football game to determine the champion of the National "
           "Football League (NFL) for the 2015 season. The American Football Conference (AFC) "
           "champion Denver Broncos defeated the National Football Conference (NFC) champion "
           "Carolina Panthers 24–10 to earn their third Super Bowl title.")
QUESTIONS = ["Which NFL team represented the AFC at Super Bowl 50?", "Who won Super Bowl 50?",
             "Which team, after a very long and extremely tiring season of many hard games, won "
             "the championship game at the end of the 2015 season of the NFL?"]


def _reference_logits(model, tokenizer, question: str, window_text: str, max_q: int) -> np.ndarray:
    """The model's start/end logits of the context tokens, computed on an encoding built here."""
    q_ids = tokenizer(question, add_special_tokens=False)["input_ids"][:max_q]
    q_text = tokenizer.decode(q_ids)
    enc = tokenizer(q_text, window_text, return_tensors="pt")
    seq = enc.sequence_ids(0)
    ctx = [i for i, s in enumerate(seq) if s == 1]
    with torch.no_grad():
        out = model.eval()(**enc)
    return np.stack([out.start_logits[0, ctx].double().numpy(), out.end_logits[0, ctx].double().numpy()])


def _brute_force(start: np.ndarray, end: np.ndarray, max_answer: int) -> dict[tuple[int, int], float]:
    scores = {(s, e): start[s] + end[e] for s in range(len(start))
              for e in range(s, min(s + max_answer, len(end)))}
    top = max(scores.values())
    z = sum(np.exp(v - top) for v in scores.values())
    return {span: float(np.exp(v - top) / z) for span, v in scores.items()}


def test_windows_are_identical_across_question_variants(qa, tokenizer):
    features = qa.encode([(CONTEXT, q) for q in QUESTIONS])
    window = features[0].window
    assert len(window.ids) == qa.context_tokens == MAX_LENGTH - 12 - 3
    assert CONTEXT.startswith(window.text) and len(window.text) < len(CONTEXT)
    assert window.text.endswith(CONTEXT[window.offsets[-1][0]:window.offsets[-1][1]])
    for f in features:
        ids = f.inputs["input_ids"]
        assert tuple(ids[f.context_start:f.context_start + f.context_len]) == window.ids
        assert f.window == window and len(ids) <= MAX_LENGTH
    assert len(features[2].inputs["input_ids"]) == MAX_LENGTH  # the long question was cut to 12
    assert features[0].context_start != features[2].context_start
    # the window's tokens are the context's own first tokens
    alone = tokenizer(CONTEXT, add_special_tokens=False)["input_ids"]
    assert window.ids == tuple(alone[:len(window.ids)])


def test_span_distribution_matches_a_brute_force_softmax(qa, tokenizer):
    dist = qa.span_distributions([(CONTEXT, QUESTIONS)])[0]
    window = qa.encode([(CONTEXT, QUESTIONS[0])])[0].window
    assert dist.probs.shape == (3, 6) and len(dist.candidates) == 5
    np.testing.assert_allclose(dist.probs.sum(1), 1.0, atol=1e-12)
    starts = {a: t for t, (a, _) in enumerate(window.offsets)}
    ends = {b: t for t, (_, b) in enumerate(window.offsets)}
    cand = [(starts[c.start_char], ends[c.end_char]) for c in dist.candidates]
    for v, question in enumerate(QUESTIONS):
        ref = _reference_logits(qa.model, tokenizer, question, window.text, 12)
        brute = _brute_force(ref[0], ref[1], 6)
        assert sum(brute.values()) == pytest.approx(1.0)
        expected = [brute[span] for span in cand]
        np.testing.assert_allclose(dist.probs[v, :5], expected, rtol=1e-5, atol=1e-9)
        other = sum(p for span, p in brute.items() if span not in cand)  # the exact remaining mass
        assert dist.probs[v, 5] == pytest.approx(other, rel=1e-5, abs=1e-9)
        best = max(brute, key=brute.get)
        assert dist.predictions[v] == window.span_text(*best)
        if v == 0:  # the candidates are the clean question's top 5, best first
            assert cand == sorted(brute, key=brute.get, reverse=True)[:5]
    assert dist.candidates[0].text == CONTEXT[dist.candidates[0].start_char:dist.candidates[0].end_char]


def test_other_is_zero_when_every_span_is_a_candidate(tokenizer):
    from sua.models import HFExtractiveQA

    small = HFExtractiveQA(tiny_qa(tokenizer, dropout=0.0), tokenizer, max_answer_tokens=2, top_n=50,
                           options=ModelOptions(max_length=MAX_LENGTH))
    dist = small.span_distributions([("Denver won.", ["Who won?", "Which team won?"])])[0]
    # 3 tokens, spans of at most 2 tokens: (0,0) (0,1) (1,1) (1,2) (2,2) -> 5 candidates, no "other"
    assert len(dist.candidates) == 5 and (dist.probs[:, -1] == 0).all()
    np.testing.assert_allclose(dist.probs.sum(1), 1.0, atol=1e-12)
    assert small.answer(["Who won?"], ["Denver won."]) == [dist.predictions[0]]


def test_bad_arguments(tokenizer):
    from sua.models import HFExtractiveQA

    with pytest.raises(SUAInputError, match="no room for the context"):
        HFExtractiveQA(tiny_qa(tokenizer), tokenizer, max_question_tokens=17,
                       options=ModelOptions(max_length=20))
    with pytest.raises(SUAInputError, match="needs its tokenizer"):
        HFExtractiveQA(tiny_qa(tokenizer))
    with pytest.raises(SUAInputError, match="QAScorer needs a span model"):
        QAScorer(object(), TokenPerturber())


# -- QAScorer ----------------------------------------------------------------------------------

class SamePerturber:
    """Every rewrite is the text itself."""

    def __repr__(self) -> str:
        return "SamePerturber()"

    def perturb(self, text, k, *, input_id, seed):
        return [Perturbation(text=text, kind="identity", family="identity", params={}, seed=seed)
                for _ in range(k)]


def test_an_unchanged_question_gives_zero_sensitivity(qa, squad):
    records = QAScorer(qa, SamePerturber(), k=3).score_batch(squad[:4])
    for rec in records:
        assert rec.sensitivity == 0.0 and rec.sensitivity_worst == 0.0
        assert all(p.prediction == rec.prediction for p in rec.perturbations)


def test_qa_records_match_the_measures(qa, squad):
    examples = squad[:6]
    scorer = QAScorer(qa, TokenPerturber(), k=3, lam=0.5, seed=1)
    records = scorer.score_batch(examples)
    for ex, rec in zip(examples, records, strict=True):
        questions = [ex.pair] + [p.text for p in rec.perturbations]
        dist = qa.span_distributions([(ex.text, questions)])[0]
        np.testing.assert_allclose(rec.probs, dist.probs[0], atol=1e-12)
        d = divergence(np.broadcast_to(dist.probs[0], dist.probs[1:].shape), dist.probs[1:], "jsd")
        np.testing.assert_allclose([p.divergence for p in rec.perturbations], d, atol=1e-12)
        assert rec.sensitivity == pytest.approx(d.mean(), abs=1e-12)
        assert rec.entropy == pytest.approx(float(entropy(dist.probs[0])), abs=1e-12)
        assert rec.sua == pytest.approx(d.mean() - 0.5 * rec.entropy, abs=1e-12)
        golds = ex.meta["answers"]["text"]
        assert rec.prediction == dist.predictions[0] and rec.label == golds[0]
        assert rec.correct == bool(exact_match(rec.prediction, golds))
        assert rec.extra["em"] == exact_match(rec.prediction, golds)
        assert rec.extra["f1"] == f1_score(rec.prediction, golds)
        assert rec.extra["candidates"] == [c.text for c in dist.candidates]
        for p, pred in zip(rec.perturbations, dist.predictions[1:], strict=True):
            assert p.prediction == pred and p.correct == bool(exact_match(pred, golds))
            assert p.family == "token"
        json.dumps(rec.to_dict())
    assert any(r.sensitivity > 0 for r in records)


def test_qa_score_file_resumes_and_refuses_another_config(qa, data_dir, tmp_path):
    data = data_dir / "qa" / "squad" / "dev.jsonl"
    full, out = tmp_path / "full.jsonl", tmp_path / "scores.jsonl"
    scorer = QAScorer(qa, TokenPerturber(), k=2, chunk_size=4)
    scorer.score_file(data, full, limit=9, progress=False)
    reference = full.read_text().splitlines()
    assert len(reference) == 9
    meta = json.loads(meta_path_for(full).read_text())
    assert meta["config"]["answers_field"] == "answers" and meta["config"]["model"]["top_n"] == 5
    out.write_text("\n".join(reference[:5] + [reference[5][:40]]))  # interrupted mid-line
    meta_path_for(out).write_text(meta_path_for(full).read_text())
    scorer.score_file(data, out, limit=9, progress=False)
    assert out.read_text().splitlines() == reference
    with pytest.raises(SUAInputError, match="differs in: k"):
        QAScorer(qa, TokenPerturber(), k=3).score_file(data, out, limit=9, progress=False)


# -- the two-head loss -------------------------------------------------------------------------

def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _qa_logits(seed: int = 0, n: int = 4, k: int = 3, length: int = 7):
    g = torch.Generator().manual_seed(seed)
    clean = torch.randn(n, 2, length, generator=g, dtype=torch.float64) * 2
    pert = clean[:, None] + torch.randn(n, k, 2, length, generator=g, dtype=torch.float64)
    lengths = torch.tensor([7, 5, 3, 6])[:n]
    pad = torch.arange(length)[None, :] >= lengths[:, None]
    clean = clean.masked_fill(pad[:, None, :], -1e4)
    pert = pert.masked_fill(pad[:, None, None, :], -1e4)
    labels = torch.stack([torch.randint(0, int(m), (2,), generator=g) for m in lengths])
    return clean, pert, labels, lengths


def test_qa_loss_is_the_mean_of_the_start_and_end_heads_by_hand():
    from scipy.spatial.distance import jensenshannon

    clean, pert, labels, lengths = _qa_logits()
    terms = SUATRLoss(alpha=0.7, beta=1.3, lam=0.4)(clean, labels, pert)
    tasks, conss, aligns, ss, hs = [], [], [], [], []
    for head in range(2):
        ce, d_rows, h_rows = [], [], []
        for n, m in enumerate(lengths.tolist()):  # each row on its own window only
            p = _softmax(clean[n, head, :m].numpy())
            q = _softmax(pert[n, :, head, :m].numpy())
            ce.append(-np.log(p[labels[n, head]]))
            d_rows.append([jensenshannon(p, q[j]) ** 2 for j in range(q.shape[0])])
            h_rows.append(-(p * np.log(p)).sum())
        d, h = np.array(d_rows), np.array(h_rows)
        tasks.append(np.mean(ce))
        conss.append(d.mean())
        aligns.append(np.maximum(d.mean(1) - 0.4 * h, 0).mean())
        ss.append(d.mean())
        hs.append(h.mean())
    task, cons, align = np.mean(tasks), np.mean(conss), np.mean(aligns)
    assert float(terms.task) == pytest.approx(task, rel=1e-10)
    assert float(terms.cons) == pytest.approx(cons, rel=1e-8)
    assert float(terms.align) == pytest.approx(align, rel=1e-8, abs=1e-14)
    assert float(terms.sensitivity) == pytest.approx(np.mean(ss), rel=1e-8)
    assert float(terms.entropy) == pytest.approx(np.mean(hs), rel=1e-10)
    assert float(terms.total) == pytest.approx(task + 0.7 * cons + 1.3 * align, rel=1e-8)


def test_qa_consistency_gradient_never_reaches_the_perturbed_side():
    clean, pert, labels, _ = _qa_logits(1)
    clean.requires_grad_(True)
    pert.requires_grad_(True)
    SUATRLoss(alpha=1.0, beta=1.0)(clean, labels, pert).total.backward()
    assert pert.grad is None
    assert clean.grad.abs().sum() > 0
    assert clean.grad[1, :, 5:].abs().max() < 1e-12  # padded positions get no gradient
    standard = SUATRLoss(alpha=0.0, beta=0.0)(clean.detach(), labels)
    assert np.isnan(float(standard.sensitivity))


# -- training ---------------------------------------------------------------------------------

def _config(method: str = "sua-tr", **kw):
    base = {"epochs": 1.0, "batch_size": 8, "lr": 1e-3, "max_length": MAX_LENGTH, "log_every": 1}
    return make_config(method, **{**base, **kw})


def _answer_inside(squad: list[Example], n: int) -> list[Example]:
    return list(islice((ex for ex in squad if ex.meta["answers"]["answer_start"][0] < 120), n))


def test_answer_targets_cover_the_gold_text(tokenizer, squad):
    from sua.train.heads import QAHead

    head = QAHead(tiny_qa(tokenizer), tokenizer, None, _config())
    kept, features, targets = head.encode(squad[:40])
    assert 0 < len(kept) < len(squad)  # answers past the 49-token window are skipped
    for i, f, (s, e) in zip(kept, features, targets.tolist(), strict=True):
        gold = squad[i].meta["answers"]["text"][0]
        assert normalize_answer(gold) in normalize_answer(f.window.span_text(s, e))
        assert f.window.offsets[s][0] <= squad[i].meta["answers"]["answer_start"][0]


@pytest.mark.parametrize("method", ["standard", "at", "sua-tr"])
def test_qa_training_lowers_the_loss_and_counts_skipped_examples(tokenizer, squad, tmp_path, method):
    model = tiny_qa(tokenizer, dropout=0.0)  # no dropout noise: one batch, seen four times
    trainer = SUATrainer(model, tokenizer, None, _config(method, epochs=4.0, adv_steps=1),
                         out_dir=tmp_path, progress=False)
    qa = trainer.fit(squad[:16])
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 0 and log[0]["skipped_examples"] > 0
    assert log[-1]["task"] < log[1]["task"], [(r["step"], r["lr"], r["task"]) for r in log[1:]]
    assert (log[1]["S"] is None) == (method != "sua-tr")
    assert qa.model is model and not model.training


def test_qa_training_resumes_exactly(tokenizer, squad, tmp_path):
    examples = _answer_inside(squad, 16)
    assert len(examples) == 16
    cfg = _config(epochs=2.0, batch_size=8, save_every=2, keep_checkpoints=2, k_train=2, seed=4)
    full = tiny_qa(tokenizer)
    SUATrainer(full, tokenizer, None, cfg, out_dir=tmp_path / "full", progress=False).fit(examples)
    saved = sorted((tmp_path / "full" / "checkpoints").glob("step-*.pt"))
    assert [p.name for p in saved] == ["step-0000002.pt", "step-0000004.pt"]
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    shutil.copy(saved[0], part / "checkpoints")
    resumed = tiny_qa(tokenizer, seed=99)
    SUATrainer(resumed, tokenizer, None, cfg, out_dir=part, progress=False).fit(examples, resume=True)
    for name, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_train_model_qa_writes_a_loadable_qa_folder(tokenizer, squad, data_dir, tmp_path):
    from sua.models import HFExtractiveQA

    backbone = tmp_path / "tiny"
    tiny_qa(tokenizer).bert.save_pretrained(backbone)  # a bare encoder, as the MiniLM backbone
    tokenizer.save_pretrained(backbone)
    data = data_dir / "qa" / "squad" / "dev.jsonl"
    out = tmp_path / "run"
    model_dir = train_model("qa", "sua-tr", TrainData(data, limit=12), out, backbone=backbone,
                            runtime=Runtime(progress=False), batch_size=8, max_length=MAX_LENGTH)
    run = json.loads((out / "config.json").read_text())
    assert run["task"] == "qa" and run["labels"] is None
    loaded = HFExtractiveQA(str(model_dir), options=ModelOptions(max_length=MAX_LENGTH))
    assert type(loaded.model).__name__ == "BertForQuestionAnswering"
    assert len(loaded.answer([squad[0].pair], [squad[0].text])[0]) > 0
    assert train_model("qa", "sua-tr", TrainData(data, limit=12), out, backbone=backbone,
                       runtime=Runtime(progress=False), batch_size=8, max_length=MAX_LENGTH) == model_dir
    with pytest.raises(SUAInputError, match="only the question"):
        SUATrainer(tiny_qa(tokenizer), tokenizer, None, _config(perturb_field="text"))


def test_the_qa_trainer_predicts_at_its_training_precision(tokenizer, monkeypatch):
    monkeypatch.setattr("sua.models.precision.bf16_is_native", lambda device: True)
    for precision in ("fp32", "bf16"):
        trainer = SUATrainer(tiny_qa(tokenizer), tokenizer, None, _config(precision=precision))
        assert trainer.classifier.precision == precision

