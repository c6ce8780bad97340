"""The `sua` command behaves: `python -m sua`, `--version`, defaults and choices in help, an
untrained head refused, a failing OpenAI server reported as one `error:` line."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import sua
from sua.cli import main
from sua.measures import available_divergences
from sua.models import ModelOptions, default_backbone_path
from sua.perturb import PERTURBERS


def test_python_m_sua_version():
    env = {**os.environ, "PYTHONPATH": str(Path(sua.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-m", "sua", "--version"], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == f"sua {sua.__version__}"


def test_help_shows_defaults_and_choices(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--k K perturbations per input (default: 8)" in text
    assert "--seed SEED default: 0" in text
    assert "--divergence {" + ",".join(available_divergences()) + "}" in text
    assert "--perturber {" + ",".join(sorted(PERTURBERS)) + "}" in text
    with pytest.raises(SystemExit):
        main(["abstain", "fit", "--help"])
    assert "(default: entropy)" in " ".join(capsys.readouterr().out.split())


def test_untrained_head_is_refused_unless_allowed(snli_dev, tmp_path, capsys):
    args = ["score", "--model", default_backbone_path(), "--task", "nli", "--data", str(snli_dev),
            "--label-field", "", "--limit", "2", "--k", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "refused.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("sua score: error: ")
    assert "classifier.weight" in err and "--allow-untrained-head" in err
    assert not (tmp_path / "refused.jsonl").exists()
    assert main([*args, "--out", str(tmp_path / "allowed.jsonl"), "--allow-untrained-head"]) == 0
    assert len((tmp_path / "allowed.jsonl").read_text().splitlines()) == 2


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "model m does not exist"}}')

    def log_message(self, *args: object) -> None:
        pass


def test_openai_server_error_is_one_error_line(snli_dev, tmp_path, capsys):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = main(["score", "--backend", "openai", "--base-url",
                     f"http://127.0.0.1:{server.server_port}/v1", "--model", "m", "--task", "nli",
                     "--data", str(snli_dev), "--limit", "2", "--k", "2",
                     "--out", str(tmp_path / "o.jsonl"), "--quiet"])
    finally:
        server.shutdown()
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("sua score: error: ")
    assert "HTTP 400" in err and "model m does not exist" in err


def test_revision_reaches_the_model_and_the_tokenizer(tokenizer, monkeypatch):
    import transformers
    from conftest import tiny_bert_config

    from sua.models import load_model

    seen = {}
    net = transformers.BertForSequenceClassification(
        tiny_bert_config(tokenizer, dropout=0.0, max_positions=64, seed=0, num_labels=2))

    def model_loader(source, **kwargs):
        seen["model"] = (source, kwargs.get("revision"))
        return net, {"missing_keys": []}

    def tokenizer_loader(source, **kwargs):
        seen["tokenizer"] = (source, kwargs.get("revision"))
        return tokenizer

    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained", model_loader)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tokenizer_loader)
    clf = load_model("sua-test-org/classifier", options=ModelOptions(revision="v1.2", device="cpu"))
    assert seen == {"model": ("sua-test-org/classifier", "v1.2"),
                    "tokenizer": ("sua-test-org/classifier", "v1.2")}
    assert clf.predict_proba(["a test"]).shape == (1, 2)
