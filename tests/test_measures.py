"""Tests for sua.measures: values against scipy or by hand, properties, types, gradients, errors."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import entropy as scipy_entropy

import sua.measures as M
from sua.errors import SUAInputError
from sua.measures import divergences as divergences_module

LN2 = math.log(2)
BUILTINS = ("jsd", "kl", "reverse_kl", "tv", "hellinger")


def simplex(rng: np.random.Generator, shape: tuple[int, ...], zeros: bool = True) -> np.ndarray:
    """Random distributions on the last axis; with ``zeros``, about a quarter of entries are 0."""
    x = rng.gamma(0.5, size=shape)
    if zeros:
        x[..., 1:] *= rng.random(shape[:-1] + (shape[-1] - 1,)) > 0.25  # column 0 keeps the row > 0
    return x / x.sum(axis=-1, keepdims=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Isolate registrations made by a test from the rest of the session."""
    monkeypatch.setattr(divergences_module, "_REGISTRY", dict(divergences_module._REGISTRY))


# ---------------------------------------------------------------- values against references


def test_entropy_matches_scipy_and_zero_log_zero(rng):
    p = simplex(rng, (50, 6))
    np.testing.assert_allclose(M.entropy(p), scipy_entropy(p, axis=-1), rtol=1e-12, atol=1e-15)
    h = M.entropy(np.array([[1.0, 0.0, 0.0], [0.25, 0.25, 0.5]]))
    assert h[0] == 0.0 and not np.signbit(h[0])
    assert h[1] == pytest.approx(1.5 * LN2, abs=1e-15)


def test_jsd_matches_scipy_with_natural_log(rng):
    p, q = simplex(rng, (40, 5)), simplex(rng, (40, 5))
    expected = jensenshannon(p, q, axis=-1) ** 2
    np.testing.assert_allclose(M.divergence(p, q), expected, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(M.divergence(p, q, "jsd"), expected, rtol=1e-9, atol=1e-14)


def test_kl_and_reverse_kl_match_rel_entr(rng):
    p = simplex(rng, (40, 5), zeros=False)
    q = simplex(rng, (40, 5), zeros=False)
    np.testing.assert_allclose(M.divergence(p, q, "kl"), rel_entr(p, q).sum(-1), rtol=1e-10)
    np.testing.assert_allclose(M.divergence(p, q, "reverse_kl"), rel_entr(q, p).sum(-1),
                               rtol=1e-10)


def test_kl_floors_q_at_epsilon_where_q_misses_support_of_p():
    eps = M.divergences.KL_EPSILON
    p = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    q = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.3, 0.7, 0.0]])
    kl = M.divergence(p, q, "kl")
    assert kl[0] == pytest.approx(0.5 * math.log(0.5) + 0.5 * math.log(0.5 / eps))
    assert kl[1] == pytest.approx(0.5 * math.log(0.5 / eps))
    assert kl[2] == pytest.approx(-math.log(0.7))
    assert np.isfinite(M.divergence(q, p, "kl")).all()
    assert M.divergence(q, p, "reverse_kl")[0] == pytest.approx(kl[0])


def test_tv_and_hellinger_by_hand():
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    q = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.8]])
    np.testing.assert_allclose(M.divergence(p, q, "tv"), [1.0, 0.5, 0.0], atol=1e-15)
    # squared Hellinger with the 1/2 factor: 1 - sum sqrt(p q)
    np.testing.assert_allclose(M.divergence(p, q, "hellinger"), [1.0, 1 - math.sqrt(0.5), 0.0],
                               atol=1e-15)


def test_hellinger_equals_one_minus_bhattacharyya(rng):
    p, q = simplex(rng, (30, 4)), simplex(rng, (30, 4))
    np.testing.assert_allclose(M.divergence(p, q, "hellinger"), 1 - np.sqrt(p * q).sum(-1),
                               atol=1e-12)


# ---------------------------------------------------------------- properties


def test_jsd_symmetric_and_bounded_by_ln2(rng):
    p, q = simplex(rng, (100, 4)), simplex(rng, (100, 4))
    d_pq, d_qp = M.divergence(p, q), M.divergence(q, p)
    np.testing.assert_allclose(d_pq, d_qp, atol=1e-15)
    assert (d_pq >= 0).all() and (d_pq <= LN2 + 1e-12).all()
    disjoint = M.divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert disjoint == pytest.approx(LN2, abs=1e-15)


def test_tv_bounds_and_pinsker(rng):
    p = simplex(rng, (100, 5), zeros=False)
    q = simplex(rng, (100, 5), zeros=False)
    tv, kl = M.divergence(p, q, "tv"), M.divergence(p, q, "kl")
    assert (tv >= 0).all() and (tv <= 1).all()
    assert (tv <= np.sqrt(kl / 2) + 1e-12).all()
    assert (tv > 0.05).any()  # the bound is exercised on non-trivial pairs


def test_hellinger_in_unit_interval_and_below_tv(rng):
    p, q = simplex(rng, (100, 5)), simplex(rng, (100, 5))
    h2, tv = M.divergence(p, q, "hellinger"), M.divergence(p, q, "tv")
    assert (h2 >= 0).all() and (h2 <= 1 + 1e-12).all()
    assert (h2 <= tv + 1e-12).all()  # H^2 <= TV for this convention


def test_divergence_of_identical_distributions_is_zero(rng):
    p = simplex(rng, (20, 5))
    for kind in BUILTINS:
        assert (M.divergence(p, p, kind) == 0).all(), kind


@st.composite
def simplex_pairs(draw) -> tuple[np.ndarray, np.ndarray]:
    """Two distributions over C classes, with exact zeros, tiny and near-one probabilities."""
    c = draw(st.integers(2, 6))
    weight = st.one_of(st.just(0.0), st.just(1e-300), st.just(1e-12),
                       st.floats(0.0, 1.0, allow_subnormal=False))
    rows = []
    for _ in range(2):
        w = draw(st.lists(weight, min_size=c, max_size=c).filter(lambda v: sum(v) > 0))
        rows.append(np.asarray(w) / sum(w))
    return rows[0], rows[1]


@settings(max_examples=80, derandomize=True, deadline=None)
@given(simplex_pairs())
def test_property_finite_and_bounded_on_any_simplex(pair):
    p, q = pair
    c = p.shape[-1]
    jsd, tv, h2 = (M.divergence(p, q, k) for k in ("jsd", "tv", "hellinger"))
    assert np.isfinite([jsd, tv, h2]).all()
    assert -1e-15 <= jsd <= LN2 + 1e-12
    assert -1e-15 <= tv <= 1 + 1e-12
    assert -1e-15 <= h2 <= 1 + 1e-12
    h = M.entropy(p)
    assert np.isfinite(h) and 0 <= h <= math.log(c) + 1e-12
    kl = M.divergence(p, q, "kl")
    assert np.isfinite(kl) and kl >= 0
    tp = torch.tensor(p, requires_grad=True)
    for kind in ("jsd", "tv", "hellinger"):
        tp.grad = None
        M.divergence(tp, torch.tensor(q), kind).backward()
        assert not torch.isnan(tp.grad).any(), kind
    tp.grad = None
    M.entropy(tp).backward()
    assert not torch.isnan(tp.grad).any()


# ---------------------------------------------------------------- registry and f-divergences


def test_registry_lists_builtins_and_rejects_unknown_names():
    names = M.available_divergences()
    assert set(BUILTINS) <= set(names) and names == sorted(names)
    with pytest.raises(SUAInputError, match=r"unknown divergence 'jensen'.*jsd.*kl.*tv"):
        M.divergence(np.array([0.5, 0.5]), np.array([0.5, 0.5]), "jensen")
    with pytest.raises(SUAInputError, match="unknown divergence"):
        M.get_divergence("KL")


def test_register_duplicate_and_overwrite(registry):
    def l1(p, q):
        return (p - q).abs().sum(-1)

    assert M.register_divergence("l1_test", l1) is l1
    assert "l1_test" in M.available_divergences()
    with pytest.raises(SUAInputError, match="already registered.*overwrite=True"):
        M.register_divergence("l1_test", l1)
    with pytest.raises(SUAInputError, match="already registered"):
        M.register_divergence("jsd", l1)
    M.register_divergence("l1_test", lambda p, q: 2 * l1(p, q), overwrite=True)
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert M.divergence(p, q, "l1_test") == pytest.approx(4.0)
    with pytest.raises(SUAInputError, match="non-empty string"):
        M.register_divergence("", l1)
    with pytest.raises(SUAInputError, match="must be callable"):
        M.register_divergence("not_fn", 3)


def test_callable_kind_and_output_shape_check():
    p, q = np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([[0.0, 1.0], [0.5, 0.5]])
    assert M.get_divergence(M.get_divergence("tv")) is M.get_divergence("tv")
    np.testing.assert_allclose(M.divergence(p, q, lambda a, b: (a - b).abs().amax(-1)), [1, 0])
    with pytest.raises(SUAInputError, match=r"returned \(2, 2\); expected .*\(2,\)"):
        M.divergence(p, q, lambda a, b: a - b)


def _xlogx(t: torch.Tensor) -> torch.Tensor:
    return torch.special.xlogy(t, t)


def test_f_divergence_reproduces_builtins(rng):
    p, q = simplex(rng, (30, 5)), simplex(rng, (30, 5))
    cases = {
        "kl": M.f_divergence(_xlogx),
        "reverse_kl": M.f_divergence(lambda t: -torch.log(t), f_prime_inf=0.0),
        "tv": M.f_divergence(lambda t: 0.5 * (t - 1).abs(), f_prime_inf=0.5),
        "hellinger": M.f_divergence(lambda t: 0.5 * (t.sqrt() - 1) ** 2, f_prime_inf=0.5),
    }
    for name, fn in cases.items():
        expected, got = M.divergence(p, q, name), M.divergence(p, q, fn)
        assert np.isfinite(expected).all(), name  # the built-in KLs floor the zero at ε
        finite = np.isfinite(got)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    assert np.isinf(M.divergence(p, q, cases["kl"])).any()  # the q_i = 0 < p_i convention is exercised


def test_f_divergence_registers_and_trains(registry):
    chi2 = M.register_divergence("chi2_test", M.f_divergence(lambda t: (t - 1) ** 2))
    p = torch.tensor([[0.2, 0.8]], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    d = M.divergence(p, q, "chi2_test")
    assert d.item() == pytest.approx(0.3**2 / 0.5 * 2)
    d.sum().backward()
    assert torch.isfinite(p.grad).all()
    assert chi2(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).item() == math.inf
    with pytest.raises(SUAInputError, match="f_prime_inf is NaN"):
        M.f_divergence(_xlogx, f_prime_inf=math.nan)
    with pytest.raises(SUAInputError, match="elementwise torch function"):
        M.f_divergence("t log t")


# ---------------------------------------------------------------- sensitivity


def test_sensitivity_zero_when_perturbations_equal_clean(rng):
    clean = simplex(rng, (7, 4))
    pert = np.repeat(clean[:, None, :], 3, axis=1)
    for kind in BUILTINS:
        s = M.sensitivity(clean, pert, divergence=kind)
        assert (s.expected == 0).all() and (s.worst == 0).all(), kind
        assert s.per_perturbation.shape == (7, 3)


def test_sensitivity_is_mean_and_max_of_divergences(rng):
    clean, pert = simplex(rng, (6, 3)), simplex(rng, (6, 5, 3))
    s = M.sensitivity(clean, pert, divergence="tv")
    per = np.stack([M.divergence(clean, pert[:, k], "tv") for k in range(5)], axis=1)
    np.testing.assert_allclose(s.per_perturbation, per, atol=1e-15)
    np.testing.assert_allclose(s.expected, per.mean(1), atol=1e-15)
    np.testing.assert_allclose(s.worst, per.max(1), atol=1e-15)
    assert (s.worst >= s.expected - 1e-15).all() and (s.worst > s.expected).any()


def test_sensitivity_with_one_perturbation(rng):
    clean, pert = simplex(rng, (5, 4)), simplex(rng, (5, 1, 4))
    s = M.sensitivity(clean, pert)
    d = M.divergence(clean, pert[:, 0])
    assert np.array_equal(s.expected, d) and np.array_equal(s.worst, d)
    assert np.array_equal(s.per_perturbation[:, 0], d)


def test_sensitivity_weights():
    clean = np.array([[1.0, 0.0]])
    pert = np.array([[[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]])  # TV = 0, 0.5, 1
    s = M.sensitivity(clean, pert, "tv", weights=np.array([[1.0, 3.0, 0.0]]))
    assert s.expected[0] == pytest.approx((0 + 3 * 0.5) / 4)
    assert s.worst[0] == pytest.approx(0.5)  # the zero-weighted TV = 1 is ignored
    np.testing.assert_allclose(s.per_perturbation, [[0.0, 0.5, 1.0]])
    uniform = M.sensitivity(clean, pert, "tv", weights=np.full((1, 3), 2.0))
    np.testing.assert_allclose(uniform.expected, M.sensitivity(clean, pert, "tv").expected)


def test_sensitivity_zero_weight_hides_a_floored_kl():
    clean = np.array([[0.5, 0.5]])
    pert = np.array([[[1.0, 0.0], [0.4, 0.6]]])
    s = M.sensitivity(clean, pert, "kl", weights=np.array([[0.0, 1.0]]))
    kl = 0.5 * math.log(0.5 / 0.4) + 0.5 * math.log(0.5 / 0.6)
    assert s.expected[0] == pytest.approx(kl) and s.worst[0] == pytest.approx(kl)
    assert M.sensitivity(clean, pert, "kl").expected[0] > 5  # ≈ 0.5 log(0.5/ε) / 2, not inf


@pytest.mark.parametrize(("clean_shape", "pert_shape", "match"), [
    ((4, 3), (4, 3), r"p_clean must be \(N, C\) and p_perturbed \(N, K, C\)"),
    ((4, 3), (5, 2, 3), r"p_clean \(4, 3\) and p_perturbed \(5, 2, 3\) disagree"),
    ((4, 3), (4, 2, 2), r"p_clean \(4, 3\) and p_perturbed \(4, 2, 2\) disagree"),
])
def test_sensitivity_shape_errors(clean_shape, pert_shape, match):
    clean = np.full(clean_shape, 1.0 / clean_shape[-1])
    pert = np.full(pert_shape, 1.0 / pert_shape[-1])
    with pytest.raises(SUAInputError, match=match):
        M.sensitivity(clean, pert)


@pytest.mark.parametrize(("weights", "match"), [
    (np.ones((2, 3)), r"weights must have shape \(N, K\) = \(2, 2\)"),
    (np.array([[1.0, -1.0], [1.0, 1.0]]), "non-negative"),
    (np.array([[1.0, np.nan], [1.0, 1.0]]), "finite"),
    (np.array([[1.0, 1.0], [0.0, 0.0]]), "row 1 sums to 0"),
])
def test_sensitivity_weight_errors(weights, match):
    clean, pert = np.full((2, 2), 0.5), np.full((2, 2, 2), 0.5)
    with pytest.raises(SUAInputError, match=match):
        M.sensitivity(clean, pert, weights=weights)


def test_sensitivity_names_the_bad_probability_input():
    clean, pert = np.full((2, 2), 0.5), np.full((2, 2, 2), 0.5)
    pert[1, 0] = [0.7, 0.7]
    with pytest.raises(SUAInputError, match=r"p_perturbed is not normalised: row \(1, 0\)"):
        M.sensitivity(clean, pert)
    with pytest.raises(SUAInputError, match="p_clean contains nan"):
        M.sensitivity(np.array([[np.nan, 1.0], [0.5, 0.5]]), np.full((2, 2, 2), 0.5))


# ---------------------------------------------------------------- score, risk, gap, confidence


def test_sua_score_and_risk():
    S, H = np.array([0.4, 0.1, 0.2]), np.array([0.1, 0.6, 0.2])
    np.testing.assert_allclose(M.sua_score(S, H), [0.3, -0.5, 0.0], atol=1e-15)
    np.testing.assert_allclose(M.sua_score(S, H, lam=0.5), [0.35, -0.2, 0.1], atol=1e-15)
    assert np.array_equal(M.sua_score(S, H, lam=0), S)
    risk = M.sua_risk(np.array([0.3, -0.5, 0.0, 0.1]))
    assert isinstance(risk, np.ndarray) and risk.shape == () and risk == pytest.approx(0.1)
    assert M.sua_risk(np.array([-1.0, -2.0])) == 0


def test_miscalibration_gap_and_true_entropy():
    label_dist = np.array([[0.5, 0.5], [1.0, 0.0]])
    p_model = np.array([[0.9, 0.1], [0.5, 0.5]])
    gap = M.miscalibration_gap(M.true_entropy(label_dist), M.entropy(p_model))
    np.testing.assert_allclose(gap, [LN2 - scipy_entropy([0.9, 0.1]), -LN2], atol=1e-15)
    with pytest.raises(SUAInputError, match="label_dist has a negative probability"):
        M.true_entropy(np.array([[1.5, -0.5]]))


def test_confidences():
    p = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.3, 0.1]])
    conf = M.normalised_confidence(p)
    np.testing.assert_allclose(conf[:2], [1.0, 0.0], atol=1e-15)
    assert conf[2] == pytest.approx(1 - scipy_entropy(p[2]) / math.log(3))
    np.testing.assert_allclose(M.max_probability(p), [1.0, 1 / 3, 0.6])


@pytest.mark.parametrize("lam", [-0.1, math.nan, math.inf, "1"])
def test_sua_score_rejects_bad_lambda(lam):
    with pytest.raises(SUAInputError, match="lam must be a finite number >= 0"):
        M.sua_score(np.zeros(2), np.zeros(2), lam=lam)


def test_real_valued_inputs_are_checked():
    with pytest.raises(SUAInputError, match=r"shapes must match.*S \(3,\), H \(3, 1\)"):
        M.sua_score(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(SUAInputError, match=r"H contains NaN at index \(1,\)"):
        M.sua_score(np.zeros(2), np.array([0.0, np.nan]))
    with pytest.raises(SUAInputError, match="scores is empty"):
        M.sua_risk(np.array([]))
    assert M.sua_score(np.array([np.inf]), np.array([1.0]))[0] == np.inf  # KL may be +inf


# ---------------------------------------------------------------- ambiguity and signature


def test_ambiguity_proxy_arrays_lists_and_torch():
    ids = np.array([[0, 0, 0, 0], [0, 1, 0, 1], [3, 1, 2, 0], [7, 7, 7, 9]])
    expected = np.array([0.0, LN2, math.log(4), scipy_entropy([3, 1])])
    np.testing.assert_allclose(M.ambiguity_proxy(ids), expected, atol=1e-15)
    np.testing.assert_allclose(M.ambiguity_proxy(ids, num_classes=10), expected, atol=1e-15)
    labels = np.array([["yes", "no"], ["no", "no"]])
    np.testing.assert_allclose(M.ambiguity_proxy(labels), [LN2, 0.0], atol=1e-15)
    ragged = [["Paris", "Paris", "paris"], [("a", 1)], [1, 2, 3, 4]]
    np.testing.assert_allclose(M.ambiguity_proxy(ragged),
                               [scipy_entropy([2, 1]), 0.0, math.log(4)], atol=1e-15)
    out = M.ambiguity_proxy(torch.tensor(ids))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.get_default_dtype()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize(("outputs", "kwargs", "match"), [
    (np.array([[0.2, 0.8]]), {}, "pass argmax ids, not probabilities"),
    (np.array([0, 1, 1]), {}, r"shape \(N, M\)"),
    (np.zeros((2, 0), dtype=int), {}, r"shape \(N, M\)"),
    (np.array([[0, 5]]), {"num_classes": 3}, r"output id 5 is outside \[0, 3\)"),
    (np.array([[0, 1]]), {"num_classes": 0}, "num_classes must be a positive integer"),
    (np.array([["a", "b"]]), {"num_classes": 2}, "must be integer ids"),
    ([[0, 1], []], {}, "row 1 is empty"),
    ([], {}, "outputs is empty"),
    ([[[0], [1]]], {}, "hashable"),
])
def test_ambiguity_proxy_errors(outputs, kwargs, match):
    with pytest.raises(SUAInputError, match=match):
        M.ambiguity_proxy(outputs, **kwargs)


def test_ambiguity_collapse():
    A, H = np.array([1.0, 1.0, 0.1, LN2]), np.array([0.1, 0.9, 0.1, 0.5])
    assert M.ambiguity_collapse(A, H).tolist() == [True, False, False, True]
    assert M.ambiguity_collapse(A, H, a=0.05, h=0.01).tolist() == [False] * 4
    with pytest.raises(SUAInputError, match="a > h"):
        M.ambiguity_collapse(A, H, a=0.5, h=0.5)
    out = M.ambiguity_collapse(torch.tensor(A), torch.tensor(H))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.bool


def test_signature_hand_cases():
    S = np.array([0.30, 0.00, 0.00, 0.00, 0.30, 0.05])
    H = np.array([0.10, 0.90, 0.10, 0.10, 0.90, 0.50])
    A = np.array([0.00, 0.00, 1.00, 0.00, 1.00, 0.70])
    sig = M.signature(S, H, A)
    assert sig.tolist() == ["sensitivity_failure", "epistemic", "ambiguity_collapse", "aligned",
                            "aligned", "ambiguity_collapse"]  # thresholds are strict > for S, H
    assert set(sig) <= set(M.SIGNATURES)
    assert M.signature(S, H).tolist()[2] == "aligned"  # no proxy, no collapse label
    loose = M.signature(S, H, A, s_threshold=0.5, h_threshold=1.0, a_threshold=2.0)
    assert loose.tolist() == ["aligned"] * 6
    from_torch = M.signature(torch.tensor(S), torch.tensor(H), torch.tensor(A))
    assert isinstance(from_torch, np.ndarray) and from_torch.tolist() == sig.tolist()
    with pytest.raises(SUAInputError, match="a > h"):
        M.signature(S, H, A, a_threshold=0.4)
    with pytest.raises(SUAInputError, match="shapes must match"):
        M.signature(S, H, A[:2])


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize(("p", "match"), [
    (np.array([[0.5, np.nan]]), "p contains nan"),
    (np.array([[1.2, -0.2]]), "p has a negative probability"),
    (np.array([[0.5, 0.6]]), "p is not normalised"),
    (np.array([[1.0]]), "at least 2 classes"),
    (np.float64(1.0), "must have a class axis"),
])
def test_probability_inputs_are_validated(p, match):
    with pytest.raises(SUAInputError, match=match):
        M.entropy(p)


def test_rounding_noise_below_zero_is_clipped_not_nan():
    p = np.array([[1.0 + 1e-9, -1e-9, 0.0]])  # within check_probabilities' tolerance
    q = np.array([[0.5, 0.25, 0.25]])
    for kind in ("jsd", "kl", "tv", "hellinger"):
        assert np.isfinite(M.divergence(p, q, kind)).all(), kind
    assert M.divergence(p, q, "reverse_kl")[0] > 5  # q_1 > 0 = clipped p_1, floored at ε
    assert M.entropy(p)[0] == pytest.approx(0.0, abs=1e-8)


def test_divergence_shape_errors():
    with pytest.raises(SUAInputError, match=r"same number of classes.*\(2, 3\) and \(2, 2\)"):
        M.divergence(np.full((2, 3), 1 / 3), np.full((2, 2), 0.5))
    with pytest.raises(SUAInputError, match=r"cannot broadcast p \(2, 2\) against q \(3, 2\)"):
        M.divergence(np.full((2, 2), 0.5), np.full((3, 2), 0.5))
    with pytest.raises(SUAInputError, match="q is not normalised"):
        M.divergence(np.full((2, 2), 0.5), np.full((2, 2), 0.6))


def test_divergence_broadcasts_leading_axes(rng):
    p, q = simplex(rng, (4, 1, 3)), simplex(rng, (1, 5, 3))
    d = M.divergence(p, q, "tv")
    assert d.shape == (4, 5)
    assert d[2, 3] == pytest.approx(0.5 * np.abs(p[2, 0] - q[0, 3]).sum())


# ---------------------------------------------------------------- types and gradients


def test_numpy_in_numpy_out_float64():
    p32 = np.array([[0.25, 0.75]], dtype=np.float32)
    for out in (M.entropy(p32), M.divergence(p32, p32[::-1]), M.max_probability(p32),
                M.sensitivity(p32, p32[:, None]).expected, M.sua_score([0.1], [0.2])):
        assert isinstance(out, np.ndarray) and out.dtype == np.float64


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out_keeps_dtype(dtype):
    p = torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=dtype)
    pert = p[:, None, :].flip(-1)
    outputs = [M.entropy(p), M.divergence(p, p.flip(-1), "kl"), M.normalised_confidence(p),
               *M.sensitivity(p, pert), M.sua_score(M.sensitivity(p, pert).expected, M.entropy(p)),
               M.sua_risk(M.entropy(p)), M.miscalibration_gap(M.entropy(p), M.entropy(p))]
    for out in outputs:
        assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.device == p.device
    assert M.sua_risk(M.entropy(p)).shape == ()


def test_mixed_numpy_and_torch_gives_torch():
    p = torch.tensor([[0.25, 0.75]], dtype=torch.float32)
    out = M.divergence(p, np.array([[0.5, 0.5]]))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32


@pytest.mark.parametrize("kind", BUILTINS)
def test_divergence_gradcheck(kind, rng):
    p = torch.tensor(simplex(rng, (3, 4), zeros=False), requires_grad=True)
    q = torch.tensor(simplex(rng, (3, 4), zeros=False), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: M.divergence(a, b, kind), (p, q))


def test_entropy_gradcheck_and_sensitivity_backward(rng):
    p = torch.tensor(simplex(rng, (3, 4), zeros=False), requires_grad=True)
    assert torch.autograd.gradcheck(M.entropy, (p,))
    logits = torch.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    pert = torch.tensor(simplex(rng, (4, 2, 3)))
    clean = logits.softmax(-1)
    s = M.sensitivity(clean, pert)
    M.sua_risk(M.sua_score(s.expected, M.entropy(clean), lam=0.1)).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_jsd_gradient_finite_with_zero_entries():
    p = torch.tensor([[0.7, 0.3, 0.0]], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([[0.0, 0.5, 0.5]], dtype=torch.float64)
    d = M.divergence(p, q)
    assert torch.isfinite(d).all()
    d.sum().backward()
    assert torch.isfinite(p.grad).all()


# ---------------------------------------------------------------- docstring examples


@pytest.mark.parametrize("module", ["entropy", "divergences", "sensitivity", "score",
                                    "confidence", "ambiguity", "signature"])
def test_docstring_examples_run(module, registry):
    mod = importlib.import_module(f"sua.measures.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
