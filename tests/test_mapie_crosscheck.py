"""The certified-risk abstention against MAPIE's Learn-then-Test risk control (mapie 1.x,
``BinaryClassificationController``) on the same scores, targets and candidate thresholds.

The mapping: "answer" is MAPIE's positive prediction and "correct" its positive label, so our
selective risk P(wrong | answered) is MAPIE's 1 − precision. Candidate j answers the inputs whose
failure score is <= τ_j; MAPIE thresholds ``a(x) = 1 − F(s(x))`` (F the empirical CDF of the
scores) at ``λ_j = 1 − F(τ_j)``, which answers exactly the same inputs. Both test the candidates
in the same fixed sequence (most conservative first, ``fwer_method="fixed_sequence"``) at level δ.

Where they agree and why: for a binary loss MAPIE's p-value is min(Hoeffding, Bentkus) =
``P(Bin(n_j, α) <= k_j)`` (the Chernoff/Hoeffding bound is never below the binomial tail), and
our Clopper-Pearson bound satisfies ``U(k, n) <= α  <=>  P(Bin(n, α) <= k) <= δ``: the same test.

Where they differ and why: MAPIE computes the risk as ``1 − precision`` in floating point and
then counts errors as ``ceil(n_j · r̂_j)``; when ``n_j · (1 − (n_j − k_j)/n_j)`` lands just above
the integer k_j (e.g. 114 · (1 − 108/114) = 6.000000000000006) it counts k_j + 1 errors, so its
p-value is the tail at k_j + 1 (or the Hoeffding bound at r̂_j when that is smaller), larger
than ours, and it can stop one candidate earlier. The test checks that every
disagreement is exactly that: MAPIE's certified set is then a prefix of ours, cut at a candidate
whose error count it rounded up.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import binom

from sua.selective import AbstentionPolicy, certify_fixed_sequence, coverage_threshold

mapie_rc = pytest.importorskip("mapie.risk_control")

N_GRID, MIN_COVERAGE = 50, 0.1


def _case(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 1500))
    h = rng.gamma(2.0, 0.3, n)
    wrong = rng.random(n) < 1.0 / (1.0 + np.exp(-(4.0 * h - 3.0)))
    target = float(rng.choice([0.05, 0.1, 0.15, 0.2]))
    delta = float(rng.choice([0.05, 0.1]))
    return h, wrong, target, delta


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_certified_abstention_matches_mapie_learn_then_test():
    agreements = roundings = 0
    for seed in range(16):
        h, wrong, target, delta = _case(seed)
        n = h.size
        records = [{"id": str(i), "sensitivity": 0.0, "entropy": float(h[i]), "correct": not wrong[i]}
                   for i in range(n)]
        policy = _quiet(AbstentionPolicy("entropy", n_grid=N_GRID, min_coverage=MIN_COVERAGE).fit,
                        records, target_risk=target, delta=delta)
        taus = np.array([coverage_threshold(h, c) for c in np.linspace(MIN_COVERAGE, 1.0, N_GRID)])
        cert = certify_fixed_sequence(h[None, :] <= taus[:, None], wrong, target, delta)
        ours = list(range(cert.index + 1))
        assert policy.fit_report_["certified"] == bool(ours)
        if ours:
            assert policy.thresholds_["entropy"] == taus[cert.index]
        ranks = np.searchsorted(np.sort(h), np.concatenate([h, taus]), side="right") / n  # F(.)
        answer_ness, lams = 1.0 - ranks[:n], 1.0 - ranks[n:]
        controller = mapie_rc.BinaryClassificationController(
            lambda x: np.column_stack([1.0 - x, x]), risk="precision", target_level=1.0 - target,
            confidence_level=1.0 - delta, list_predict_params=lams, fwer_method="fixed_sequence")
        _quiet(controller.calibrate, answer_ness, (~wrong).astype(int))
        theirs = sorted(set(np.flatnonzero(np.isin(lams, controller.valid_predict_params))))

        # the same p-value, computed from the integer error count, gives our decision everywhere
        k, m = cert.n_errors, cert.n_covered
        assert np.array_equal(binom.cdf(k, m, target) <= delta, cert.upper_bounds <= target)
        mapie_k = np.ceil(m * (1.0 - (m - k) / m))  # MAPIE's error count, as it computes it
        exact = mapie_k == k
        p_mapie, p_ours = controller.p_values[:, 0], binom.cdf(k, m, target)
        assert np.allclose(p_mapie[exact], p_ours[exact], rtol=1e-9, atol=0)
        # rounded up: the tail at k + 1 (or the Hoeffding bound, if smaller), never below ours
        assert (p_mapie[~exact] >= p_ours[~exact]).all() and (mapie_k[~exact] == k[~exact] + 1).all()
        if theirs == ours:
            agreements += 1
            if ours:  # and the same decisions on every input
                answered = answer_ness >= controller.best_predict_param
                assert np.array_equal(answered, ~policy.predict(records))
        else:
            roundings += 1
            j = len(theirs)
            assert theirs == ours[:j] and mapie_k[j] == k[j] + 1
    assert agreements >= 10 and agreements + roundings == 16
