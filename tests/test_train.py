"""SUA-TR: loss terms by hand, stop-gradients, the trainer (passes, accumulation, exact resume,
train_model), PGD's ε-ball, temperature scaling against sklearn, MC-dropout votes."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch
from conftest import tiny_bert_config

from sua.errors import SUAInputError
from sua.inputs import Example
from sua.models import ModelOptions
from sua.models.mc_dropout import mc_dropout_votes
from sua.selective import TemperatureScaler
from sua.train import (
    PRESETS,
    EmbeddingPGD,
    Runtime,
    SUATrainer,
    SUATRLoss,
    TrainData,
    make_config,
    perturbed_inputs,
    train_model,
)

LABELS = ["entailment", "neutral", "contradiction"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from threads, and OpenMP spin-waiting on a shared machine
    makes them many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- the loss --------------------------------------------------------------------------------

def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _logits(seed: int = 0, n: int = 5, k: int = 3, c: int = 4):
    g = torch.Generator().manual_seed(seed)
    clean = torch.randn(n, c, generator=g, dtype=torch.float64) * 2
    pert = clean[:, None, :] + torch.randn(n, k, c, generator=g, dtype=torch.float64)
    labels = torch.randint(0, c, (n,), generator=g)
    return clean, pert, labels


@pytest.mark.parametrize("stop_grad", ["perturbed", "clean"])
@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_loss_terms_match_a_hand_computation(stop_grad, lam):
    from scipy.spatial.distance import jensenshannon

    clean, pert, labels = _logits()
    terms = SUATRLoss(alpha=0.7, beta=1.3, lam=lam, stop_grad=stop_grad)(clean, labels, pert)
    p, q, y = _softmax(clean.numpy()), _softmax(pert.numpy()), labels.numpy()
    nll = -np.log(p[np.arange(len(y)), y]).mean()
    d = np.array([[jensenshannon(p[n], q[n, k]) ** 2 for k in range(q.shape[1])]
                  for n in range(len(p))])  # scipy: sqrt of the JSD in nats
    s = d.mean(1)
    h = -(p * np.log(p)).sum(-1)
    align = np.maximum(s - lam * h, 0).mean()
    assert float(terms.task) == pytest.approx(nll, rel=1e-10)
    assert float(terms.cons) == pytest.approx(d.mean(), rel=1e-9)
    assert float(terms.align) == pytest.approx(align, rel=1e-9, abs=1e-15)
    assert float(terms.sensitivity) == pytest.approx(s.mean(), rel=1e-9)
    assert float(terms.entropy) == pytest.approx(h.mean(), rel=1e-10)
    assert float(terms.total) == pytest.approx(nll + 0.7 * d.mean() + 1.3 * align, rel=1e-9)


def test_loss_kl_divergence_and_standard_case():
    clean, pert, labels = _logits(1)
    p, q = _softmax(clean.numpy()), _softmax(pert.numpy())
    kl = (p[:, None] * np.log(p[:, None] / q)).sum(-1).mean()
    terms = SUATRLoss(alpha=1.0, beta=0.0, divergence="kl")(clean, labels, pert)
    assert float(terms.cons) == pytest.approx(kl, rel=1e-9)
    standard = SUATRLoss(alpha=0.0, beta=0.0)(clean, labels)
    assert float(standard.total) == pytest.approx(float(terms.task))
    assert np.isnan(float(standard.sensitivity))
    with pytest.raises(SUAInputError, match="perturbed_logits"):
        SUATRLoss()(clean, labels)
    with pytest.raises(SUAInputError, match="stop_grad"):
        SUATRLoss(stop_grad="both")
    with pytest.raises(SUAInputError, match="unknown divergence"):
        SUATRLoss(divergence="nope")


def test_loss_alignment_is_positive_only_where_s_exceeds_lambda_h():
    """(S − λH)_+ by hand on a case where one input is above the line and one below."""
    clean = torch.tensor([[4.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    pert = torch.tensor([[[0.0, 4.0]], [[0.0, 0.0]]], dtype=torch.float64)
    terms = SUATRLoss(alpha=0.0, beta=1.0, lam=1.0)(clean, torch.tensor([0, 0]), pert)
    p = _softmax(clean.numpy())
    m = (p[0] + p[0][::-1]) / 2
    jsd0 = (p[0] * np.log(p[0] / m)).sum()  # both halves equal by symmetry
    h0 = -(p[0] * np.log(p[0])).sum()
    assert float(terms.align) == pytest.approx(max(jsd0 - h0, 0) / 2, rel=1e-9)
    assert jsd0 > h0


@pytest.mark.parametrize("stop_grad", ["perturbed", "clean"])
def test_consistency_gradient_never_reaches_the_stop_gradient_side(stop_grad):
    clean, pert, labels = _logits(2)
    clean.requires_grad_(True)
    pert.requires_grad_(True)
    SUATRLoss(alpha=1.0, beta=1.0, stop_grad=stop_grad)(clean, labels, pert).total.backward()
    if stop_grad == "perturbed":
        assert pert.grad is None
        assert clean.grad.abs().sum() > 0
        return
    assert pert.grad.abs().sum() > 0
    # the clean side gets exactly the task and entropy gradients, nothing from the divergences
    from sua.measures import sensitivity

    s_const = sensitivity(torch.softmax(clean.detach(), -1), torch.softmax(pert.detach(), -1)).expected
    c2 = clean.detach().clone().requires_grad_(True)
    p2 = torch.softmax(c2, -1)
    h = -(p2 * torch.log(p2)).sum(-1)
    (torch.nn.functional.cross_entropy(c2, labels) + torch.relu(s_const - h).mean()).backward()
    torch.testing.assert_close(clean.grad, c2.grad)


# -- tiny models ------------------------------------------------------------------------------

def tiny_bert(tokenizer, dropout: float = 0.1, seed: int = 0):
    from transformers import BertForSequenceClassification

    config = tiny_bert_config(tokenizer, dropout=dropout, max_positions=64, seed=seed, num_labels=3,
                              id2label=dict(enumerate(LABELS)))
    return BertForSequenceClassification(config)


@pytest.fixture(scope="module")
def pairs(snli_dev):
    from sua.io import iter_examples

    return list(iter_examples(snli_dev, text_field="premise", pair_field="hypothesis", limit=40))


def _config(method: str = "sua-tr", **kw):
    base = {"epochs": 1.0, "batch_size": 8, "lr": 1e-3, "max_length": 48, "log_every": 1}
    return make_config(method, **{**base, **kw})


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _record_passes(model) -> list[tuple[int, bool]]:
    """Wrap ``model.forward`` to record (rows, grad enabled) of every call."""
    calls: list[tuple[int, bool]] = []
    forward = model.forward

    def recording(*args, **kwargs):
        rows = (kwargs.get("input_ids") if kwargs.get("input_ids") is not None
                else kwargs["inputs_embeds"]).shape[0]
        calls.append((rows, torch.is_grad_enabled()))
        return forward(*args, **kwargs)

    model.forward = recording
    return calls


@pytest.mark.parametrize("stop_grad,expected", [
    ("perturbed", [(8, True), (16, False)]),  # clean with a graph, K·N rewrites without one
    ("clean", [(24, True)]),  # one mixed batch with a graph
])
def test_trainer_passes_and_graphs(tokenizer, pairs, stop_grad, expected):
    model = tiny_bert(tokenizer)
    calls = _record_passes(model)
    SUATrainer(model, tokenizer, LABELS, _config(stop_grad=stop_grad, epochs=0.2),
               progress=False).fit(pairs[:8])
    assert calls == expected


def test_at_runs_k_attack_passes_without_touching_parameter_grads(tokenizer, pairs):
    model = tiny_bert(tokenizer)
    calls = _record_passes(model)
    SUATrainer(model, tokenizer, LABELS, _config("at", adv_steps=2, epochs=0.2),
               progress=False).fit(pairs[:8])
    assert calls == [(8, True)] * 4  # 2 PGD steps + the adversarial and the clean training pass


def test_at_loss_is_the_mean_of_clean_and_adversarial_task_losses(tokenizer, pairs):
    """Goodfellow et al.'s objective by default; Madry's adversarial-only one on request."""
    model = tiny_bert(tokenizer, dropout=0.0)
    trainer = SUATrainer(model, tokenizer, LABELS, _config("at", adv_steps=1), progress=False)
    _, clean, labels = trainer.head.encode(pairs[:4])
    torch.manual_seed(0)
    terms = trainer.batch_loss(clean, None, labels)
    torch.manual_seed(0)
    adversarial = SUATrainer(model, tokenizer, LABELS, _config("at", adv_steps=1, adv_clean_loss=False),
                             progress=False).batch_loss(clean, None, labels)
    with torch.no_grad():
        clean_loss = torch.nn.functional.cross_entropy(trainer._logits(clean), labels)
    assert float(adversarial.task) > float(clean_loss)  # the attack raised the loss
    assert float(terms.task) == pytest.approx((float(clean_loss) + float(adversarial.task)) / 2, rel=1e-5)


def test_gradient_accumulation_equals_one_large_batch(tokenizer, pairs, monkeypatch):
    """With dropout 0, 2 micro-batches of 8 accumulate the gradient of one batch of 16."""
    clip = torch.nn.utils.clip_grad_norm_
    grads: list[list[torch.Tensor]] = []

    def capture(params, *args, **kwargs):
        params = list(params)
        grads.append([p.grad.clone() for p in params])
        return clip(params, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", capture)
    for batch_size, accum in ((16, 1), (8, 2)):
        cfg = _config(batch_size=batch_size, grad_accum=accum, epochs=1.0, seed=3)
        SUATrainer(tiny_bert(tokenizer, dropout=0.0), tokenizer, LABELS, cfg,
                   progress=False).fit(pairs[:16])
    assert len(grads) == 2  # one optimizer step each
    for one, accumulated in zip(*grads, strict=True):
        torch.testing.assert_close(accumulated, one, rtol=1e-4, atol=1e-7)


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tokenizer, pairs, tmp_path):
    cfg = _config(epochs=2.0, batch_size=8, save_every=3, keep_checkpoints=3, k_train=2,
                  log_every=2, seed=5)
    full = tiny_bert(tokenizer)
    SUATrainer(full, tokenizer, LABELS, cfg, out_dir=tmp_path / "full", progress=False).fit(pairs)
    saved = sorted((tmp_path / "full" / "checkpoints").glob("step-*.pt"))
    assert [p.name for p in saved] == ["step-0000003.pt", "step-0000006.pt", "step-0000009.pt"]

    # a run interrupted after step 3: its folder holds the step-3 checkpoint and the log so far
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    shutil.copy(saved[0], part / "checkpoints")
    full_log = (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()
    (part / "train_log.jsonl").write_text("\n".join(full_log) + "\n")  # lines past 3 are dropped
    resumed = tiny_bert(tokenizer, seed=99)  # different init: everything must come from the file
    trainer = SUATrainer(resumed, tokenizer, LABELS, cfg, out_dir=part, progress=False)
    with pytest.raises(SUAInputError, match="resume=True"):
        trainer.fit(pairs)
    trainer.fit(pairs, resume=True)
    for name, value in _weights(full).items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert (part / "train_log.jsonl").read_text().splitlines() == full_log
    other = _config(epochs=2.0, batch_size=8, save_every=4, seed=6)  # bookkeeping may differ
    with pytest.raises(SUAInputError, match="differs in: seed"):
        SUATrainer(tiny_bert(tokenizer), tokenizer, LABELS, other, out_dir=part,
                   progress=False).fit(pairs, resume=True)
    # perturb_field "auto" rewrote the hypothesis (the pair): an explicit "pair" is the same run,
    # "text" (the premise) is not
    for side, same in (("pair", True), ("text", False)):
        explicit = SUATrainer(tiny_bert(tokenizer), tokenizer, LABELS,
                              _config(epochs=2.0, batch_size=8, save_every=3, keep_checkpoints=3,
                                      k_train=2, log_every=2, seed=5, perturb_field=side),
                              out_dir=part, progress=False)
        if same:
            explicit.fit(pairs, resume=True)
        else:
            with pytest.raises(SUAInputError, match="differs in: perturb_field"):
                explicit.fit(pairs, resume=True)


def test_log_has_the_loss_terms_and_the_held_out_trajectory(tokenizer, pairs, tmp_path):
    cfg = _config(epochs=1.0, log_every=2, eval_every=5, eval_k=2)
    SUATrainer(tiny_bert(tokenizer), tokenizer, LABELS, cfg, out_dir=tmp_path,
               progress=False).fit(pairs[:40], eval_examples=pairs[:6])
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 2, 4, 5]
    assert {"loss", "task", "cons", "align", "S", "H", "lr", "epoch"} <= set(log[1])
    assert log[1]["S"] > 0 and log[-1]["epoch"] == 1.0
    assert [set(r["eval"]) for r in (log[0], log[-1])] == [{"S", "H", "SUA", "accuracy", "n"}] * 2
    assert log[1]["loss"] == pytest.approx(log[1]["task"] + log[1]["cons"] + log[1]["align"],
                                           rel=1e-4)


def test_presets_and_a_missing_perturbation_family(tokenizer):
    assert {"standard", "at", "sua-tr", "sua-tr-no-cons", "sua-tr-no-align", "sua-tr-adv-only",
            "sua-tr-para-only", "sua-tr-k4", "sua-tr-k8", "sua-tr-k16"} <= set(PRESETS)
    assert make_config("sua-tr-k16").k_train == 16
    assert (make_config("sua-tr-no-cons").alpha, make_config("sua-tr-no-align").beta) == (0, 0)
    with pytest.raises(SUAInputError, match="not registered"):
        SUATrainer(tiny_bert(tokenizer), tokenizer, LABELS, make_config(perturber="no-such-family"))
    with pytest.raises(SUAInputError, match="alpha and beta must be 0"):
        make_config("standard", alpha=1.0)
    with pytest.raises(SUAInputError, match="unknown training option"):
        make_config("sua-tr", k=3)
    with pytest.raises(SUAInputError, match="unknown training preset"):
        make_config("sua")


def test_perturbed_inputs_rewrite_the_chosen_side():
    from sua.perturb import TokenPerturber

    ex = Example("x", "A man sleeps on the red couch .", pair="Somebody is sleeping right now .")
    auto = perturbed_inputs(ex, TokenPerturber(), 3, seed=0)
    assert all(a == ex.text and b != ex.pair for a, b in auto)
    first = perturbed_inputs(ex, TokenPerturber(), 3, seed=0, field="text")
    assert all(b == ex.pair and a != ex.text for a, b in first)
    with pytest.raises(SUAInputError, match="no pair"):
        perturbed_inputs(Example("y", "Hello there ."), TokenPerturber(), 2, seed=0, field="pair")


def test_model_based_families_get_the_live_classifier_and_the_full_inputs(monkeypatch):
    """A family taking ``model`` and ``to_model_input`` (the adversarial search, the mixture)
    is built against the classifier being trained, with the premise put back for NLI."""
    from sua.perturb import PERTURBERS
    from sua.perturb.registry import CONTEXT
    from sua.train.rewrites import make_perturber

    class Goal:
        def __init__(self, model, *, to_model_input=None, budget=4):
            self.model, self.to_model_input, self.budget = model, to_model_input, budget

    monkeypatch.setitem(PERTURBERS, "goal", Goal)
    monkeypatch.setitem(CONTEXT, "goal", ("model", "to_model_input"))
    ex = Example("nli-1", "A man sleeps .", pair="Somebody sleeps .")
    built = make_perturber(make_config(perturber="goal", perturber_options={"budget": 9}),
                           model="the classifier", examples=[ex])
    assert (built.model, built.budget) == ("the classifier", 9)
    assert built.to_model_input("nli-1", "Someone sleeps .") == ("A man sleeps .", "Someone sleeps .")
    # the side put back is the config's: rewriting the premise keeps the hypothesis second
    premise_side = make_perturber(make_config(perturber="goal", perturb_field="text"), model="m",
                                  examples=[ex])
    assert premise_side.to_model_input("nli-1", "A man naps .") == ("A man naps .", "Somebody sleeps .")
    with pytest.raises(SUAInputError, match="rejected the options"):
        make_perturber(make_config(perturber="goal", perturber_options={"nope": 1}), model="m")


def test_train_model_writes_the_folder_and_resumes(tokenizer, snli_dev, tmp_path):
    backbone = tmp_path / "tiny"
    tiny_bert(tokenizer).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    out = tmp_path / "run"
    data = TrainData(snli_dev, limit=24)
    kw = {"backbone": backbone, "runtime": Runtime(progress=False), "batch_size": 8, "max_length": 48}
    model_dir = train_model("nli", "sua-tr", data, out, **kw)
    assert model_dir == out / "model" and (model_dir / "config.json").exists()
    run = json.loads((out / "config.json").read_text())
    assert run["labels"] == LABELS and run["train"]["method"] == "sua-tr" and "versions" in run
    assert (out / "train_log.jsonl").exists()
    mtime = (model_dir / "model.safetensors").stat().st_mtime
    assert train_model("nli", "sua-tr", data, out, **kw) == model_dir  # finished: no retraining
    assert (model_dir / "model.safetensors").stat().st_mtime == mtime
    with pytest.raises(SUAInputError, match="differs in: train"):
        train_model("nli", "sua-tr", data, out, **{**kw, "k_train": 4})

    from sua.models import HFSequenceClassifier

    assert HFSequenceClassifier(str(model_dir)).labels == LABELS


def test_train_data_and_runtime_refuse_what_no_run_can_use(snli_dev, tmp_path):
    assert TrainData(snli_dev).limit is None and TrainData(snli_dev).eval_limit == 500
    assert TrainData(snli_dev, eval_limit=None).eval_limit is None  # every held-out record
    for bad in ({"limit": 0}, {"limit": -3}, {"limit": True}, {"eval_limit": 0}, {"eval_limit": 2.5}):
        name = next(iter(bad))
        with pytest.raises(SUAInputError, match=f"{name} must be a positive integer or None"):
            TrainData(snli_dev, **bad)
    assert Runtime().nproc == 1 and Runtime().progress
    for nproc in (0, -1, 1.5):
        with pytest.raises(SUAInputError, match="nproc must be an integer >= 1"):
            Runtime(nproc=nproc)
    # the command line's --limit and --nproc reach them: one error line, nothing written
    from sua.cli import main

    for flag in (["--limit", "0"], ["--nproc", "0"]):
        assert main(["train", "--data", str(snli_dev), "--out", str(tmp_path / "run"), *flag]) == 2
    assert not (tmp_path / "run").exists()


def test_cli_passes_the_adversarial_training_options(tokenizer, snli_dev, tmp_path):
    from sua.cli import main

    backbone = tmp_path / "tiny"
    tiny_bert(tokenizer).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    main(["train", "--method", "at", "--data", str(snli_dev), "--out", str(tmp_path / "run"),
          "--model", str(backbone), "--limit", "8", "--batch-size", "8", "--max-length", "48",
          "--adv-epsilon", "0.003", "--adv-steps", "1", "--adv-norm", "l2", "--adv-loss", "adversarial",
          "--quiet"])
    train = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert (train["adv_epsilon"], train["adv_steps"], train["adv_norm"], train["adv_clean_loss"]) == \
        (0.003, 1, "l2", False)


# -- PGD ------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_perturbation_stays_in_the_epsilon_ball(tokenizer, norm):
    model = tiny_bert(tokenizer, dropout=0.0)
    batch = tokenizer(["A man plays a guitar on the street .", "Dogs run ."],
                      ["Someone makes music .", "Animals move quickly in the big park ."],
                      padding=True, return_tensors="pt")
    labels = torch.tensor([0, 2])
    eps = 0.05
    pgd = EmbeddingPGD(epsilon=eps, step_size=0.04, steps=5, norm=norm)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    delta = pgd.perturbation(model, dict(batch), labels)
    if norm == "linf":
        assert delta.abs().max() <= eps + 1e-7
    else:
        assert (delta.flatten(1).norm(dim=1) <= eps * (1 + 1e-5)).all()
    assert delta.abs().sum() > 0
    pad = batch["attention_mask"] == 0
    assert pad.any() and (delta[pad] == 0).all()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    rest = {k: v for k, v in batch.items() if k != "input_ids"}
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach()

    def loss(d):
        logits = model(inputs_embeds=embeds + d, **rest).logits
        return torch.nn.functional.cross_entropy(logits, labels).item()

    assert loss(delta) > loss(torch.zeros_like(delta))


# -- temperature scaling --------------------------------------------------------------------

def _calibration_data(scale: float, seed: int = 0, n: int = 2000, c: int = 4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    logits = 2.0 * np.eye(c)[labels] + rng.normal(0, 1.5, (n, c))
    return logits * scale, labels


@pytest.mark.parametrize("scale", [4.0, 0.3])  # over- and under-confident
def test_temperature_scaling_lowers_nll_and_keeps_accuracy(scale):
    from sklearn.metrics import log_loss

    logits, labels = _calibration_data(scale)
    val, test = slice(0, 1000), slice(1000, None)
    scaler = TemperatureScaler().fit(logits[val], labels[val])
    raw, calibrated = _softmax(logits[test]), scaler.transform(logits[test])
    nll_raw, nll_cal = (log_loss(labels[test], p, labels=range(4)) for p in (raw, calibrated))
    assert nll_cal < nll_raw - 0.05  # a scaler that does nothing fails here
    assert (calibrated.argmax(1) == raw.argmax(1)).all()
    assert (scaler.temperature_ > 1) == (scale > 1)
    # the fitted T minimises the validation NLL (scipy's Brent on sklearn's log_loss)
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(lambda t: log_loss(labels[val], _softmax(logits[val] / np.exp(t)),
                                              labels=range(4)),
                           bounds=(np.log(0.05), np.log(20)), method="bounded",
                           options={"xatol": 1e-6})
    assert scaler.temperature_ == pytest.approx(np.exp(best.x), rel=1e-3)
    assert scaler.nll_after_ == pytest.approx(best.fun, rel=1e-7)
    assert scaler.nll_before_ == pytest.approx(
        float(torch.nn.functional.cross_entropy(torch.tensor(logits[val]), torch.tensor(labels[val]))))


def test_temperature_scaler_is_an_estimator():
    logits, labels = _calibration_data(3.0, n=300)
    scaler = TemperatureScaler(max_iter=50)
    assert scaler.get_params() == {"max_iter": 50, "classes": None}
    assert scaler.set_params(max_iter=80) is scaler and scaler.max_iter == 80
    with pytest.raises(SUAInputError, match="not fitted"):
        scaler.transform(logits)
    restored = pickle.loads(pickle.dumps(scaler.fit(logits, labels)))
    np.testing.assert_array_equal(restored.transform(logits), scaler.transform(logits))
    np.testing.assert_allclose(scaler.fit_transform(logits, labels).sum(1), 1.0)
    with pytest.raises(SUAInputError, match="labels must"):
        scaler.fit(logits, labels[:-1])
    with pytest.raises(SUAInputError, match="unknown parameter"):
        scaler.set_params(lr=1)
    # a perfectly calibrated model keeps T = 1 within the optimiser's precision
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (4000, 3))
    y = np.array([rng.choice(3, p=p) for p in _softmax(z)])
    assert TemperatureScaler().fit(z, y).temperature_ == pytest.approx(1.0, abs=0.08)


def test_temperature_scaling_of_misleading_logits_ends_at_the_hottest_temperature():
    """Logits that favour a wrong class: the NLL keeps falling as T grows, so the fit stops at
    the largest T it searches (1000) with the NLL near log C, far below the unscaled one."""
    labels = np.arange(300) % 3
    logits = 5.0 * np.eye(3)[(labels + 1) % 3]
    scaler = TemperatureScaler().fit(logits, labels)
    assert scaler.temperature_ == pytest.approx(1000.0)
    assert scaler.nll_after_ == pytest.approx(np.log(3), abs=1e-2)
    assert scaler.nll_before_ > 5.0


# -- MC dropout -----------------------------------------------------------------------------

def test_mc_dropout_agreement(tokenizer, pairs):
    from sua.models import HFSequenceClassifier

    inputs = [ex.model_input() for ex in pairs[:6]]
    frozen = HFSequenceClassifier(tiny_bert(tokenizer, dropout=0.0), tokenizer,
                                  options=ModelOptions(batch_size=7))
    votes = mc_dropout_votes(frozen, inputs, passes=5)
    np.testing.assert_array_equal(votes.agreement, np.ones(6))
    np.testing.assert_allclose(votes.mean_proba, frozen.predict_proba(inputs), atol=1e-6)
    np.testing.assert_array_equal(votes.modal, frozen.predict_proba(inputs).argmax(1))

    noisy = HFSequenceClassifier(tiny_bert(tokenizer, dropout=0.5), tokenizer,
                                 options=ModelOptions(batch_size=7))
    state = torch.get_rng_state()
    a = mc_dropout_votes(noisy, inputs, passes=20, seed=1)
    assert torch.equal(state, torch.get_rng_state()) and not noisy.model.training
    b = mc_dropout_votes(noisy, inputs, passes=20, seed=1)
    np.testing.assert_array_equal(a.votes, b.votes)
    np.testing.assert_allclose(a.votes.sum(1), 1.0)
    assert a.agreement.min() < 1 and (a.agreement >= 1 / 3).all()
    np.testing.assert_array_equal(a.agreement, a.votes.max(1))
