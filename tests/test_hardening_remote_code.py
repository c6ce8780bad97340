"""Model folders never run code: auto_map folders are refused, transformers gets trust_remote_code=False."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sua.cli import main
from sua.errors import SUAInputError
from sua.models import load_model
from sua.models.hf_classifier import _from_pretrained


@pytest.fixture()
def custom_code_folder(tmp_path) -> tuple[Path, Path]:
    """A folder whose config asks transformers to import its own modeling.py (which would
    leave a marker file behind if it were ever run)."""
    folder, marker = tmp_path / "evil-model", tmp_path / "code-ran"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "not-a-real-architecture",
        "auto_map": {"AutoConfig": "modeling.Cfg", "AutoModelForSequenceClassification": "modeling.Net"}}))
    (folder / "modeling.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return folder, marker


def test_load_model_refuses_a_folder_that_needs_its_own_code(custom_code_folder):
    folder, marker = custom_code_folder
    with pytest.raises(SUAInputError, match="auto_map.*never runs code"):
        load_model(folder)
    assert not marker.exists()


@pytest.mark.parametrize("command", [
    ["score", "--data", "{data}", "--out", "{out}", "--model", "{model}", "--quiet"],
    ["train", "--data", "{data}", "--out", "{out}", "--model", "{model}", "--method", "standard", "--quiet"],
    ["perturb", "--data", "{data}", "--out", "{out}", "--model", "{model}", "--family", "token", "--quiet"],
])
def test_commands_refuse_it_with_one_line(custom_code_folder, tmp_path, capsys, command):
    folder, marker = custom_code_folder
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "text": "x", "premise": "p", "hypothesis": "h", "label": "neutral"}\n')
    args = [a.format(data=data, out=tmp_path / "out", model=folder) for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0] and "auto_map" in err[0]
    assert not marker.exists()


def test_every_load_passes_trust_remote_code_false(tmp_path, monkeypatch):
    seen: list[dict] = []

    class Spy:
        @classmethod
        def from_pretrained(cls, source, **kwargs):
            seen.append(kwargs)
            return "loaded"

    assert _from_pretrained(Spy, str(tmp_path), attn_implementation="eager") == "loaded"
    assert seen == [{"attn_implementation": "eager", "trust_remote_code": False}]

    import transformers

    from sua.train.api import load_backbone

    for name in ("AutoTokenizer", "AutoModelForSequenceClassification", "AutoModelForQuestionAnswering"):
        monkeypatch.setattr(transformers, name, Spy)
    seen.clear()
    load_backbone(tmp_path, ["a", "b"])
    load_backbone(tmp_path, None, head="qa")
    assert len(seen) == 4 and all(kw["trust_remote_code"] is False for kw in seen)
