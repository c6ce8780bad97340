"""Hugging Face sequence classifiers (single texts or text pairs) as p(y|x)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.models._checks import validate_inputs, validate_labels
from sua.models.options import ModelOptions
from sua.models.precision import autocast, effective_precision, prepare_model, resolve_device

#: The pre-tokenised form: one dict per input (``input_ids``, ``attention_mask`` and, for
#: BERT-like models, ``token_type_ids``), unpadded, truncated to ``max_length``.
Tokenized = list[dict[str, list[int]]]


class HFSequenceClassifier:
    """A ``transformers`` sequence classifier as a :class:`~sua.models.base.PredictiveModel`.

    p(y|x) = softmax(logits(x))_y, computed in float64.

    ``model`` is a local folder or hub name (the tokenizer and an
    ``AutoModelForSequenceClassification`` are loaded from it, with eager attention on
    CPU) or an already built model, in which case ``tokenizer`` is required. ``labels``
    defaults to ``model.config.id2label`` in class-id order. Inputs are single texts or
    ``(first, second)`` pairs (NLI: ``(premise, hypothesis)``), never both in one call.

    Inference tokenises every input once without padding (truncated to ``max_length``),
    sorts by token length so each batch of ``batch_size`` is padded only to its own
    longest member, runs under ``torch.inference_mode()`` in eval mode on ``device`` and
    returns rows in the order of the inputs. ``options`` (:class:`~sua.models.options.ModelOptions`)
    holds ``device``, ``precision``, ``batch_size`` (default 32), ``max_length`` (default 256)
    and ``revision``; with ``precision="int8"`` ``self.model`` is a quantised copy.

    A loaded model is refused when some of its weights are newly initialised (a bare backbone
    whose classification head was never trained predicts noise), unless
    ``allow_untrained_head=True``.

    Example (offline, with the MiniLM backbone and an untrained 3-way head)::

        >>> from transformers import AutoModelForSequenceClassification, AutoTokenizer
        >>> from sua.models import HFSequenceClassifier, default_backbone_path
        >>> path = default_backbone_path()
        >>> net = AutoModelForSequenceClassification.from_pretrained(
        ...     path, num_labels=3, attn_implementation="eager")  # doctest: +SKIP
        >>> clf = HFSequenceClassifier(net, AutoTokenizer.from_pretrained(path),
        ...     labels=["entailment", "neutral", "contradiction"])  # doctest: +SKIP
        >>> clf.predict_proba([("A man plays.", "Someone plays.")]).shape  # doctest: +SKIP
        (1, 3)
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | torch.nn.Module,
        tokenizer: Any = None,
        *,
        labels: Sequence[str] | None = None,
        options: ModelOptions | None = None,
        allow_untrained_head: bool = False,
    ) -> None:
        opts = (options or ModelOptions()).sized(batch_size=32, max_length=256)
        load = functools.partial(_load_model, revision=opts.revision,
                                 allow_untrained_head=allow_untrained_head)
        model, tokenizer, dev = resolve_model(model, tokenizer, opts.device, load, "HFSequenceClassifier",
                                              revision=opts.revision)
        if getattr(tokenizer, "pad_token_id", None) is None:
            raise SUAInputError(
                "the tokenizer has no pad token, so batches cannot be padded; set "
                "tokenizer.pad_token (e.g. to tokenizer.eos_token) and "
                "model.config.pad_token_id to its id")
        self.model = prepare_model(model, opts.precision, dev)
        self.precision = effective_precision(opts.precision, dev)
        self.tokenizer = tokenizer
        self.device = dev
        self.batch_size = int(opts.batch_size)
        max_length = int(opts.max_length)
        model_max = getattr(tokenizer, "model_max_length", None)
        self.max_length = min(max_length, model_max) if isinstance(model_max, int) else max_length
        n_classes = int(model.config.num_labels)
        self.labels = validate_labels(
            _config_labels(model.config) if labels is None else labels, expected=n_classes)

    def __repr__(self) -> str:
        name = getattr(self.model.config, "_name_or_path", "") or type(self.model).__name__
        return (f"HFSequenceClassifier({name!r}, labels={self.labels}, "
                f"batch_size={self.batch_size}, device={str(self.device)!r}, "
                f"precision={self.precision!r})")

    def tokenize(self, inputs: Sequence[ModelInput]) -> Tokenized:
        """Tokenise all inputs in one call, unpadded, truncated to ``max_length``.

        Returns one dict of token-id lists per input, in input order; pass it to
        :meth:`logits_from_tokenized`.
        """
        items, is_pair = validate_inputs(inputs)
        if not items:
            return []
        kwargs = {"truncation": True, "max_length": self.max_length}
        if is_pair:
            firsts = [x[0] for x in items]
            seconds = [x[1] for x in items]
            enc = self.tokenizer(firsts, seconds, **kwargs)
        else:
            enc = self.tokenizer(items, **kwargs)
        keys = list(enc.keys())
        return [{k: list(enc[k][i]) for k in keys} for i in range(len(items))]

    def logits_from_tokenized(self, tokenized: Tokenized) -> np.ndarray:
        """Logits (N, C) float64 for pre-tokenised inputs, rows in the order given.

        Sorts by length, pads each batch of ``batch_size`` to its own longest member,
        runs the model in eval mode under ``torch.inference_mode()`` (the model's
        train/eval mode is restored afterwards) and puts every row back in place.
        """
        out = np.empty((len(tokenized), len(self.labels)), dtype=np.float64)
        if not tokenized:
            return out
        order = np.argsort([len(t["input_ids"]) for t in tokenized], kind="stable")
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), autocast(self.precision, self.device):
                for start in range(0, len(order), self.batch_size):
                    idx = order[start:start + self.batch_size]
                    batch = self._pad([tokenized[i] for i in idx])
                    out[idx] = self.model(**batch).logits.double().cpu().numpy()
        finally:
            self.model.train(was_training)
        return out

    def predict_logits(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        """Logits (N, C) float64: :meth:`tokenize` then :meth:`logits_from_tokenized`."""
        return self.logits_from_tokenized(self.tokenize(inputs))

    def predict_proba(self, inputs: Sequence[ModelInput]) -> np.ndarray:
        """p(y|x) = softmax(logits)_y as an (N, C) float64 array, rows in input order."""
        logits = torch.from_numpy(self.predict_logits(inputs))
        return torch.softmax(logits, dim=-1).numpy()

    def _pad(self, features: Tokenized) -> dict[str, torch.Tensor]:
        """Pad one batch to its longest member on the tokenizer's padding side."""
        width = max(len(f["input_ids"]) for f in features)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        fills = {"input_ids": self.tokenizer.pad_token_id,
                 "token_type_ids": getattr(self.tokenizer, "pad_token_type_id", 0)}
        batch = {}
        for key in features[0]:
            fill = fills.get(key, 0)
            rows = [[fill] * (width - len(f[key])) + f[key] if left
                    else f[key] + [fill] * (width - len(f[key])) for f in features]
            batch[key] = torch.tensor(rows, dtype=torch.long, device=self.device)
        return batch


def resolve_model(model: str | os.PathLike[str] | torch.nn.Module, tokenizer: Any,
                  device: str | torch.device | None, load: Callable[[str, torch.device], torch.nn.Module],
                  adapter: str, *, revision: str | None = None
                  ) -> tuple[torch.nn.Module, Any, torch.device]:
    """``(model, tokenizer, device)`` from what an adapter was given: a folder or hub name (the
    model is loaded with ``load(source, device)``, the tokenizer from the same place unless one is
    given; the device defaults to CUDA when available) or a built ``transformers`` model with its
    tokenizer (the device defaults to where the model is). ``revision`` pins the tokenizer's hub
    revision (the model's is up to ``load``)."""
    if isinstance(model, (str, os.PathLike)):
        source = resolve_model_source(model)
        dev = resolve_device(device)
        model = load(source, dev)
        tokenizer = source if tokenizer is None else tokenizer
    elif isinstance(model, torch.nn.Module) and hasattr(model, "config"):
        if tokenizer is None:
            raise SUAInputError(f"a built model needs its tokenizer: {adapter}(model, tokenizer)")
        dev = resolve_device(device) if device is not None else _module_device(model)
    else:
        raise SUAInputError(
            f"model must be a folder, a hub name or a transformers model, got "
            f"{type(model).__name__}")
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = _load_tokenizer(resolve_model_source(tokenizer), revision)
    return model, tokenizer, dev


def resolve_model_source(name: str | os.PathLike[str]) -> str:
    """Return ``name`` as a string, raising if it looks like a local path that does not exist.

    Path-like means: a ``Path`` object, an absolute path, one starting with ``.`` or ``~``,
    ending with a separator, or with more than one ``/`` (a hub name is ``org/name``).
    Anything else that is not an existing file or folder is treated as a hub name.
    """
    text = os.fspath(name)
    if os.path.exists(os.path.expanduser(text)):
        return os.path.expanduser(text)
    seps = {s for s in (os.sep, os.altsep) if s}
    looks_like_path = (
        not isinstance(name, str)
        or os.path.isabs(text)
        or text.startswith((".", "~"))
        or text.endswith(tuple(seps))
        or text.count("/") > 1
        or any(s in text for s in seps - {"/"})
    )
    if looks_like_path:
        raise SUAInputError(
            f"model path not found: {text!r} (resolved to {os.path.abspath(text)!r}); pass "
            "an existing folder written by save_pretrained, or a hub model name like 'org/name'")
    return text


def _module_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _config_labels(config: Any) -> list[str]:
    """Label names from ``config.id2label``, ordered by class id."""
    id2label = {int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
    n = int(config.num_labels)
    missing = [i for i in range(n) if i not in id2label]
    if missing:
        raise SUAInputError(
            f"model config id2label has no name for class ids {missing}; pass labels=[...]")
    return [str(id2label[i]) for i in range(n)]


def _load_model(source: str, device: torch.device, *, revision: str | None = None,
                allow_untrained_head: bool = False) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    kwargs = {"attn_implementation": "eager"} if device.type == "cpu" else {}
    if revision is not None:
        kwargs["revision"] = revision
    model, info = _from_pretrained(AutoModelForSequenceClassification, source, output_loading_info=True,
                                   **kwargs)
    untrained = sorted(info.get("missing_keys") or [])
    if untrained and not allow_untrained_head:
        raise SUAInputError(
            f"model {source!r} has newly initialised weights ({', '.join(untrained)}): its "
            "classification head was never trained, so its predictions are noise. Pass a fine-tuned "
            "classifier, or allow_untrained_head=True (--allow-untrained-head) to score it anyway")
    return model


def _load_tokenizer(source: str, revision: str | None = None) -> Any:
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, source, **({} if revision is None else {"revision": revision}))


def _from_pretrained(loader: Any, source: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(source)`` with load failures turned into a clear message; never
    runs a folder's own code (:func:`~sua.models.remote_code.refuse_remote_code`)."""
    from sua.models.remote_code import NO_REMOTE_CODE, refuse_remote_code

    refuse_remote_code(source)
    try:
        return loader.from_pretrained(source, **kwargs, **NO_REMOTE_CODE)
    except (OSError, ValueError) as err:
        if os.path.isdir(source):
            msg = (f"could not load {loader.__name__} from folder {source!r}: it must hold "
                   f"config.json, the weights and the tokenizer files written by "
                   f"save_pretrained ({err})")
        elif _offline() and isinstance(err, OSError):
            msg = (f"model {source!r} is not a local folder and is not in the Hugging Face "
                   "cache, and offline mode is on (HF_HUB_OFFLINE=1), so nothing is "
                   "downloaded; pass a local folder written by save_pretrained, or cache the "
                   "model while online")
        else:
            msg = f"could not load model {source!r} from the Hugging Face hub or cache: {err}"
        raise SUAInputError(msg) from err


def _offline() -> bool:
    """Whether Hugging Face offline mode is on (environment or ``huggingface_hub``)."""
    flags = (os.environ.get(v, "").strip().lower() for v in ("HF_HUB_OFFLINE",
                                                                "TRANSFORMERS_OFFLINE"))
    if any(f in {"1", "true", "yes", "on"} for f in flags):
        return True
    try:
        from huggingface_hub import is_offline_mode
    except ImportError:
        return False
    return bool(is_offline_mode())
