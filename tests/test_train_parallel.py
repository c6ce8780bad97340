"""Data-parallel training (`sua train --nproc N`, gloo on CPU): two processes take the same steps
as one with the same global batch, and a two-process run resumes exactly from its checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_bert_config

from sua.errors import SUAInputError
from sua.train import Runtime, TrainData, train_model
from sua.train.parallel import run_processes, shard, world


@pytest.fixture(scope="module")
def backbone(tokenizer, tmp_path_factory) -> Path:
    """A one-layer BERT without dropout (so one and two processes draw no different masks)."""
    from transformers import BertForSequenceClassification

    out = tmp_path_factory.mktemp("tiny")
    BertForSequenceClassification(tiny_bert_config(tokenizer, dropout=0.0, max_positions=64, seed=0,
                                                   num_labels=3)).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _train(snli_dev: Path, out: Path, backbone: Path, nproc: int) -> Path:
    return train_model("nli", "sua-tr", TrainData(snli_dev, limit=36), out, backbone=backbone,
                       runtime=Runtime(progress=False, nproc=nproc), batch_size=8, k_train=2, max_length=48,
                       epochs=1.0, lr=1e-3, log_every=1, save_every=2, seed=4)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(model_dir / "model.safetensors")


def test_two_processes_follow_the_single_process_loss_curve(snli_dev, backbone, tmp_path):
    one = _train(snli_dev, tmp_path / "one", backbone, nproc=1)
    two = _train(snli_dev, tmp_path / "two", backbone, nproc=2)
    curve_one, curve_two = _log(tmp_path / "one"), _log(tmp_path / "two")
    assert [r["step"] for r in curve_two] == [r["step"] for r in curve_one] == [1, 2, 3, 4, 5]
    for a, b in zip(curve_one, curve_two, strict=True):
        for term in ("loss", "task", "cons", "align", "S", "H"):
            assert b[term] == pytest.approx(a[term], rel=1e-4, abs=1e-6), (a["step"], term)
    w1, w2 = _weights(one), _weights(two)
    for name in w1:
        if name.endswith("key.bias"):  # softmax ignores it: its gradient is float noise, which Adam
            continue                   # scales up to full steps of either sign
        torch.testing.assert_close(w2[name], w1[name], rtol=1e-4, atol=1e-5)

    # an interrupted two-process run (its step-4 checkpoint and log) resumes to the same end
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    shutil.copy(tmp_path / "two" / "config.json", part)
    shutil.copy(tmp_path / "two" / "train_log.jsonl", part)
    shutil.copy(tmp_path / "two" / "checkpoints" / "step-0000004.pt", part / "checkpoints")
    resumed = _train(snli_dev, part, backbone, nproc=2)
    assert _log(part) == curve_two
    for name, value in _weights(two).items():
        torch.testing.assert_close(_weights(resumed)[name], value, rtol=0, atol=1e-7)


def test_shard_outside_a_process_group_is_everything():
    import numpy as np

    assert world() == (0, 1)
    assert shard(np.arange(5)).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(SUAInputError, match="nproc must be an integer >= 1"):
        run_processes(0, print)
