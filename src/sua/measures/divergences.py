"""Divergences D(p || q) between predictive distributions, and the registry that names them.

A divergence function takes two torch tensors of one shape ``(..., C)`` (distributions on the
last axis) and returns a tensor of shape ``(...)``. Built in: ``jsd`` (the default), ``kl``,
``reverse_kl``, ``tv`` and ``hellinger``. Adding one is one function plus one
:func:`register_divergence` line; :func:`f_divergence` builds one from a convex ``f``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from sua.errors import SUAInputError
from sua.measures._tensor import ArrayLike, probabilities, restore, safe_sqrt, xlogy

#: A divergence kernel: ``fn(p, q)`` on tensors ``(..., C)`` -> ``(...)``.
DivergenceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: A registered name or a divergence kernel.
DivergenceSpec = str | DivergenceFn

_REGISTRY: dict[str, DivergenceFn] = {}


def register_divergence(name: str, fn: DivergenceFn, *, overwrite: bool = False) -> DivergenceFn:
    """Register ``fn`` under ``name`` so every measure (and config file) can use it by name.

    ``fn(p, q)`` receives torch tensors of one shape ``(..., C)`` and must return ``(...)``,
    differentiably if it is to be trained with. Re-using a name is an error unless
    ``overwrite=True``. Returns ``fn``.

    >>> l1 = register_divergence("l1", lambda p, q: (p - q).abs().sum(-1), overwrite=True)
    >>> get_divergence("l1") is l1
    True
    """
    if not isinstance(name, str) or not name:
        raise SUAInputError(f"a divergence name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise SUAInputError(f"divergence {name!r} must be callable fn(p, q), got {fn!r}")
    if name in _REGISTRY and not overwrite:
        raise SUAInputError(f"a divergence named {name!r} is already registered; "
                            "pass overwrite=True to replace it or choose another name")
    _REGISTRY[name] = fn
    return fn


def available_divergences() -> list[str]:
    """The registered divergence names, sorted.

    >>> {"jsd", "kl", "reverse_kl", "tv", "hellinger"} <= set(available_divergences())
    True
    """
    return sorted(_REGISTRY)


def get_divergence(name: DivergenceSpec) -> DivergenceFn:
    """The divergence kernel registered as ``name``; a callable is returned unchanged.

    >>> get_divergence("jsd") is get_divergence(get_divergence("jsd"))
    True
    """
    if callable(name):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise SUAInputError(f"unknown divergence {name!r}; available: "
                            f"{', '.join(available_divergences())} (or pass a callable)") from None


def f_divergence(f: Callable[[torch.Tensor], torch.Tensor],
                 f_prime_inf: float = math.inf) -> DivergenceFn:
    """Build the f-divergence ``D_f(p || q) = sum_i q_i f(p_i / q_i)`` for a convex ``f``.

    Conventions where ``q_i = 0``: the term is 0 if ``p_i = 0`` and ``p_i * f_prime_inf``
    otherwise, where ``f_prime_inf = lim_{t->inf} f(t)/t`` (``inf`` for KL, ``1/2`` for TV,
    ``0`` for reverse KL's ``f(t) = -log t``). ``f`` must be elementwise on torch tensors and
    finite at ``t = 0`` where the divergence is (write ``t log t`` as
    ``torch.special.xlogy(t, t)``, not ``t * torch.log(t)``).

    >>> import torch
    >>> tv = f_divergence(lambda t: 0.5 * (t - 1).abs(), f_prime_inf=0.5)
    >>> tv(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).item()
    1.0
    """
    if not callable(f):
        raise SUAInputError(f"f must be an elementwise torch function, got {f!r}")
    if math.isnan(f_prime_inf):
        raise SUAInputError("f_prime_inf is NaN; pass lim f(t)/t as t -> inf (math.inf if it "
                            "diverges)")

    def d_f(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        supported = q > 0
        q_safe = torch.where(supported, q, 1.0)
        inside = q * f(torch.where(supported, p / q_safe, 1.0))
        if math.isfinite(f_prime_inf):
            outside = p * f_prime_inf
        else:  # p * inf is NaN at p = 0, and so would its gradient be
            outside = torch.where(p > 0, f_prime_inf, 0.0).to(p.dtype)
        return torch.where(supported, inside, outside).sum(dim=-1)

    d_f.__doc__ = f"f-divergence sum_i q_i f(p_i/q_i) with f={f!r}, f'(inf)={f_prime_inf}."
    return d_f


def apply_divergence(fn: DivergenceFn, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Broadcast the leading axes of ``p`` and ``q``, apply ``fn`` and check its output shape."""
    if p.shape[-1] != q.shape[-1]:
        raise SUAInputError(f"p and q need the same number of classes on the last axis; "
                            f"got shapes {tuple(p.shape)} and {tuple(q.shape)}")
    try:
        p, q = torch.broadcast_tensors(p, q)
    except RuntimeError:
        raise SUAInputError(f"cannot broadcast p {tuple(p.shape)} against q {tuple(q.shape)}; "
                            "leading axes must match or be 1") from None
    out = fn(p, q)
    if not isinstance(out, torch.Tensor) or out.shape != p.shape[:-1]:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SUAInputError(f"divergence {fn!r} returned {got}; expected a tensor of shape "
                            f"{tuple(p.shape[:-1])} (the last axis reduced)")
    return out


def divergence(p: ArrayLike, q: ArrayLike, kind: DivergenceSpec = "jsd") -> ArrayLike:
    """``D(p || q)`` over the last axis, broadcasting leading axes.

    ``kind`` is a registered name (see :func:`available_divergences`) or a kernel
    ``fn(p, q)`` on torch tensors. Built in, all in nats:

    - ``jsd`` (default): ``KL(p||m)/2 + KL(q||m)/2``, ``m = (p+q)/2``; symmetric, in ``[0, ln 2]``.
    - ``kl``: ``sum_i p_i log(p_i / max(q_i, ε))`` with ``ε =`` :data:`KL_EPSILON` (or the
      dtype's smallest normal number if larger): exact wherever ``q_i >= ε``, and finite (at
      most ``log(1/ε) ≈ 27.6`` nats) when some ``q_i = 0 < p_i``; never NaN or infinite.
    - ``reverse_kl``: ``KL(q||p)``, with the same ``ε`` on ``p``.
    - ``tv``: ``(1/2) sum_i |p_i - q_i|``, in ``[0, 1]``.
    - ``hellinger``: the *squared* Hellinger distance ``(1/2) sum_i (sqrt p_i - sqrt q_i)^2``,
      in ``[0, 1]``.

    Numpy in, float64 numpy out; torch in, torch out (same dtype and device, differentiable).

    >>> import numpy as np
    >>> divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0]))  # JSD of disjoint supports
    array(0.69314718)
    """
    fn = get_divergence(kind)
    (tp, tq), torch_out = probabilities({"p": p, "q": q})
    return restore(apply_divergence(fn, tp, tq), torch_out)


#: Floor on the second argument of ``kl`` (and on the first of ``reverse_kl``): a model that
#: outputs an exact 0 where the other side has mass gives ``log(p_i/ε)``, not ``+inf``.
KL_EPSILON = 1e-12


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) = sum_i p_i log(p_i / max(q_i, ε)), ε = max(KL_EPSILON, smallest normal).

    Exact wherever ``q_i >= ε``; finite, never NaN, when some ``q_i = 0 < p_i``; terms with
    ``p_i = 0`` are 0. Values below 0 from rounding are clipped to 0.
    """
    eps = max(KL_EPSILON, torch.finfo(q.dtype).tiny)
    return (xlogy(p, p) - xlogy(p, q.clamp_min(eps))).sum(dim=-1).clamp_min(0.0)


def _reverse_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(q || p) = sum_i q_i log(q_i / max(p_i, ε)) (see :func:`_kl`)."""
    return _kl(q, p)


def _jsd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence ``KL(p || m)/2 + KL(q || m)/2`` with ``m = (p + q)/2``.

    Symmetric, finite even with zeros, in ``[0, ln 2]`` nats (= scipy's ``jensenshannon`` squared).
    Computed as ``(1/2) sum_i [p_i log(2 p_i / (p_i + q_i)) + q_i log(2 q_i / (p_i + q_i))]``
    without forming ``m``: where ``p_i > 0``, ``p_i + q_i >= p_i > 0`` even when ``m_i`` would
    underflow (a subnormal ``p_i`` against ``q_i = 0``), so the value and its gradient stay
    finite in float32 and bfloat16. Classes with ``p_i = q_i`` add exactly 0; rounding is
    clipped to ``[0, ln 2]``.
    """
    s, ln2 = p + q, math.log(2.0)
    terms = xlogy(p, p) - xlogy(p, s) + xlogy(q, q) - xlogy(q, s) + ln2 * (p + q)
    terms = torch.where(p == q, 0.0, terms)
    return (0.5 * terms.sum(dim=-1)).clamp(0.0, ln2)


def _tv(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Total variation ``TV(p, q) = (1/2) sum_i |p_i - q_i|``, in ``[0, 1]``."""
    return 0.5 * (p - q).abs().sum(dim=-1)


def _hellinger(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Squared Hellinger distance ``H^2(p, q) = (1/2) sum_i (sqrt p_i - sqrt q_i)^2`` in [0, 1].

    Convention: the squared distance with the 1/2 factor (so disjoint supports give 1), which
    is the f-divergence of ``f(t) = (sqrt t - 1)^2 / 2``.
    """
    return 0.5 * (safe_sqrt(p) - safe_sqrt(q)).pow(2).sum(dim=-1)


register_divergence("jsd", _jsd)
register_divergence("kl", _kl)
register_divergence("reverse_kl", _reverse_kl)
register_divergence("tv", _tv)
register_divergence("hellinger", _hellinger)
