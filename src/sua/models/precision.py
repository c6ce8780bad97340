"""Where a model runs and at which numeric precision: ``device`` (cpu | cuda | auto) and
``precision`` (fp32 | bf16 | int8), shared by every torch adapter and the trainer.

- ``fp32``: the weights and every operation in float32 (exact; the default).
- ``bf16``: the weights stay float32; matrix products run in bfloat16 under
  ``torch.autocast`` (CPUs with AVX-512 BF16 / AMX, and CUDA). Probabilities are still
  computed from the logits in float64 by the adapters.
- ``int8``: dynamic quantisation of every ``torch.nn.Linear`` (weights stored as int8 with
  one scale per output channel, activations quantised per batch at run time;
  ``torch.ao.quantization.quantize_dynamic``). CPU only; a copy of the model is quantised,
  the original is left as it is.

Chosen by measurement on this project's CPU (``benchmarks/bench_precision.py``): torch's
dynamic quantisation needs no export step and no extra dependency, and keeps the adapters'
dynamic padding; ONNX Runtime's int8 measured no faster (``docs/precision.md``).

Neither fast mode is within the fidelity goal of issue #12 (max |Δp| <= 0.02 against fp32) on a
fine-tuned MiniLM: bf16 moves 99 % of inputs by at most about 0.01 but the worst by 0.06, and
no mixed-precision variant measured fits either (``benchmarks/bench_precision_modes.py``).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator

import torch

from sua.errors import SUAInputError

#: The inference precisions (``--precision``); training takes ``fp32`` or ``bf16``.
PRECISIONS = ("fp32", "bf16", "int8")
#: The devices (``--device``): ``auto`` is CUDA when one is visible, else the CPU.
DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device for ``device``: ``None`` or ``"auto"`` -> ``cuda`` when
    ``torch.cuda.is_available()``, else ``cpu``; ``"cuda"`` without a visible GPU is an error."""
    if isinstance(device, torch.device):
        return device
    name = "auto" if device is None else str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise SUAInputError(f"device must be one of {DEVICES} (or cuda:N), got {device!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SUAInputError(f"device {name!r} was asked for but torch sees no CUDA GPU (torch "
                            f"{torch.__version__}); use --device cpu or auto")
    return torch.device(name)


def check_precision(precision: str, allowed: tuple[str, ...] = PRECISIONS) -> str:
    """``precision`` when it is one of ``allowed``, else :class:`SUAInputError`."""
    if precision not in allowed:
        raise SUAInputError(f"precision must be one of {allowed}, got {precision!r}")
    return precision


def prepare_model(model: torch.nn.Module, precision: str, device: torch.device) -> torch.nn.Module:
    """``model`` on ``device`` in eval mode, ready to run at ``precision``: for ``int8`` a
    dynamically quantised copy (``nn.Linear`` -> int8 weights), for ``fp32``/``bf16`` the model
    itself (bf16 is applied per call by :func:`autocast`)."""
    check_precision(precision)
    if precision == "int8" and device.type != "cpu":
        raise SUAInputError(f"precision 'int8' (dynamic quantisation) runs on the CPU only, not "
                            f"{device}; use precision 'bf16' on a GPU")
    model = model.to(device).eval()
    if precision != "int8":
        return model
    with warnings.catch_warnings():  # torch points to torchao; the eager API is what 2.13 ships
        warnings.filterwarnings("ignore", message=r".*(torch\.ao\.quantization|quantize_per_\w+).*deprecated")
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear: qconfig},
                                                      dtype=torch.qint8)


def bf16_is_native(device: torch.device) -> bool:
    """Whether bfloat16 matrix products run in hardware on ``device``: on CUDA, or on a CPU
    that oneDNN gives bf16 kernels (AVX-512, AMX). On other CPUs (AVX2 only) torch emulates them:
    a 512 × 512 product measured 42× slower than in float32 on such a CPU."""
    return device.type != "cpu" or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def effective_precision(precision: str, device: torch.device) -> str:
    """The precision that runs: ``precision``, except ``bf16`` where it is emulated
    (:func:`bf16_is_native`), which runs as ``fp32`` with a warning (float32 arithmetic instead
    of an emulated bfloat16 one tens of times slower)."""
    if precision == "bf16" and not bf16_is_native(device):
        warnings.warn(f"bf16 is emulated on this CPU ({torch.backends.cpu.get_cpu_capability()}, no "
                      "AVX-512/AMX bf16 kernels) and would run tens of times slower: running fp32",
                      RuntimeWarning, stacklevel=2)
        return "fp32"
    return precision


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """``torch.autocast(device.type, dtype=torch.bfloat16)`` for ``bf16`` where it runs natively
    (:func:`effective_precision`); nothing otherwise."""
    if precision == "bf16" and bf16_is_native(device):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
