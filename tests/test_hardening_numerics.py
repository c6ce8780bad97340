"""Hypothesis properties: JSD stays in [0, ln 2] with finite gradients in float32 and bfloat16,
KL is finite on exact zeros, worst >= expected exactly, no NaN/inf in any written record."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sua import measures as M
from sua.measures.divergences import KL_EPSILON

LN2 = math.log(2.0)
# logits up to ±120 apart: softmax then holds subnormals and exact zeros in float32 and bf16
logit_rows = st.integers(2, 6).flatmap(lambda c: st.tuples(
    arrays(np.float64, (3, c), elements=st.floats(-120, 120)),
    arrays(np.float64, (3, c), elements=st.floats(-120, 120))))


@settings(max_examples=300, deadline=None)
@given(logit_rows, st.sampled_from([torch.float32, torch.bfloat16]))
def test_jsd_bounded_with_finite_gradients(pair, dtype):
    a = torch.tensor(pair[0], dtype=dtype, requires_grad=True)
    b = torch.tensor(pair[1], dtype=dtype, requires_grad=True)
    d = M.divergence(torch.softmax(a, -1), torch.softmax(b, -1), "jsd")
    assert torch.isfinite(d).all() and (d >= 0).all() and (d.float() <= LN2 + 1e-6).all()
    d.sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_jsd_of_smallest_subnormal_against_zero():
    """The issue's case: one side holds the smallest float32 subnormal, the other 0."""
    tiny = float.fromhex("0x1p-149")
    p = torch.tensor([[1.0 - tiny, tiny]], dtype=torch.float32, requires_grad=True)
    q = torch.tensor([[1.0, 0.0]], dtype=torch.float32, requires_grad=True)
    d = M.divergence(p, q, "jsd")
    d.sum().backward()
    assert 0 <= d.item() <= LN2
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


def test_jsd_still_matches_scipy_at_the_bound():
    from scipy.spatial.distance import jensenshannon

    p, q = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.5, 0.5])
    assert M.divergence(p, q, "jsd") == pytest.approx(jensenshannon(p, q) ** 2) == pytest.approx(LN2)


@settings(max_examples=200, deadline=None)
@given(logit_rows, st.sampled_from(["kl", "reverse_kl"]))
def test_kl_family_finite_on_exact_zeros(pair, kind):
    p, q = (torch.softmax(torch.tensor(x, dtype=torch.float32), -1) for x in pair)
    d = M.divergence(p, q, kind)
    assert torch.isfinite(d).all() and (d >= 0).all()
    assert (d <= -math.log(KL_EPSILON) + 1e-3).all()


def test_kl_epsilon_value_by_hand():
    p, q = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    want = 0.5 * math.log(0.5 / 1.0) + 0.5 * math.log(0.5 / KL_EPSILON)
    assert M.divergence(p, q, "kl") == pytest.approx(want, rel=1e-12)
    assert M.divergence(q, p, "reverse_kl") == pytest.approx(want, rel=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8).flatmap(lambda k: arrays(np.float64, (4, k, 3), elements=st.floats(-30, 30))),
       st.sampled_from(["jsd", "kl", "tv", "hellinger"]), st.booleans())
def test_worst_is_never_below_expected(logits, kind, weighted):
    pert = torch.softmax(torch.tensor(logits), -1).numpy()
    clean = pert[:, 0, :]
    weights = np.linspace(1.0, 2.0, pert.shape[1])[None, :].repeat(4, 0) if weighted else None
    s = M.sensitivity(clean, pert, kind, weights=weights)
    assert (s.worst >= s.expected).all()
    assert np.isfinite(s.expected).all() and np.isfinite(s.worst).all()


def test_worst_equals_expected_when_the_mean_rounds_up():
    """Three equal divergences whose float64 mean rounds one ulp above them."""
    x = 0.8132702392002724
    assert torch.tensor([[x] * 3], dtype=torch.float64).mean(1).item() > x  # the rounding
    constant = lambda p, q: torch.full(p.shape[:-1], x, dtype=p.dtype)  # noqa: E731
    s = M.sensitivity(np.array([[0.5, 0.5]]), np.full((1, 3, 2), 0.5), constant)
    assert s.worst[0] == x and s.expected[0] == x


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (3, 5, 3), elements=st.floats(-120, 120)),
       st.sampled_from(["jsd", "kl", "reverse_kl", "tv", "hellinger"]))
def test_no_nan_or_inf_in_a_written_record(logits, kind):
    """Records built by the scorer from any model output serialise as strict JSON."""
    from sua.models.callable import CallableModel
    from sua.perturb.base import Perturbation, Perturber
    from sua.scoring import SUAScorer

    probs = torch.softmax(torch.tensor(logits, dtype=torch.float32), -1).double().numpy()
    table = {f"t{i}-{j}": probs[i, j] for i in range(3) for j in range(5)}

    class Fixed(Perturber):
        name = "fixed"

        def perturb(self, text, k, *, input_id="", seed=0):
            i = text.split("-")[0]
            return [Perturbation(text=f"{i}-{j + 1}", kind="fixed", family="fixed") for j in range(k)]

    model = CallableModel(lambda texts: np.array([table[t] for t in texts]), labels=["a", "b", "c"])
    scorer = SUAScorer(model, Fixed(), k=4, divergence=kind)
    from sua.inputs import Example

    for record in scorer.score_batch([Example(id=str(i), text=f"t{i}-0") for i in range(3)]):
        json.dumps(record.to_dict(), allow_nan=False)


def test_the_record_writer_refuses_non_finite_values(tmp_path):
    from sua.errors import SUAInputError
    from sua.io import JsonlAppender

    out = tmp_path / "r.jsonl"
    with JsonlAppender(out) as sink:
        sink.write({"id": "a", "sensitivity": 0.1})
        for bad in (math.nan, math.inf, -math.inf):
            with pytest.raises(SUAInputError, match="record 'b' holds NaN or Infinity"):
                sink.write({"id": "b", "nested": {"sensitivity": [bad]}})
    assert [json.loads(line) for line in out.read_text().splitlines()] == [{"id": "a", "sensitivity": 0.1}]


def test_report_renders_an_undefined_cell_as_a_dash(tmp_path):
    """results.json cells with NaN mean or std: no "nan ± inf" in the report."""
    from sua.eval.report.cells import DASH
    from sua.eval.report.write import write_report

    rows = [{"keys": {"Method": "A"}, "cells": {"AUROC": {"mean": math.nan, "std": math.inf, "n": 2}},
             "paper": None},
            {"keys": {"Method": "B"}, "cells": {"AUROC": {"mean": 0.7, "std": math.nan, "n": 2}},
             "paper": None}]
    tables = [{"id": "t", "title": "T", "key_columns": ["Method"], "columns": ["AUROC"], "rows": rows}]
    (tmp_path / "results.json").write_text(json.dumps({"meta": {"seeds": [0, 1]}, "tables": tables}))
    md, _ = write_report(tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "nan" not in text and "inf" not in text
    assert f"| A | {DASH} |" in text and "| B | 0.700 |" in text
