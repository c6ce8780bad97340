"""The LM-Polygraph bridge: statistics from cached generative records, checked by hand and, when
``lm-polygraph`` is installed (``benchmarks/requirements-lm-polygraph.txt``; not in the default
``all,test`` extras, see docs/lm_side_by_side.md), against its own estimators and PRR."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sua.errors import SUAInputError
from sua.eval.polygraph import polygraph_stats
from sua.measures.metrics import prediction_rejection_ratio

#: Three hand-made cached generations (M = 4 samples each), in the fields GenerativeSUAScorer writes.
RECORDS = [
    {"answer_token_logprobs": [-0.5, -0.25], "answer_token_entropies": [1.0, 0.5],
     "samples": ["Paris", "paris.", "Lyon", "Paris"],
     "sample_token_logprobs": [[-0.1], [-0.2, -0.3], [-1.0], [-0.1]]},
    {"answer_token_logprobs": [-2.0], "answer_token_entropies": [3.0],
     "samples": ["Lyon"] * 4, "sample_token_logprobs": [[-0.7]] * 4},
    {"answer_token_logprobs": [-1.0, -1.0, -0.5], "answer_token_entropies": [0.25, 0.5, 0.0],
     "samples": ["Rome", "Oslo", "Bern", "Kyiv"],
     "sample_token_logprobs": [[-1.5], [-2.0], [-2.5], [-3.0]]},
]


def _plogp(p: list[float]) -> float:
    return -sum(x * math.log(x) for x in p)


#: Each estimator's value on RECORDS, computed by hand from its formula.
EXPECTED = {
    "MaximumSequenceProbability": [0.75, 2.0, 2.5],           # −Σ_t log p(y_t)
    "Perplexity": [0.375, 2.0, 2.5 / 3],                      # −mean_t log p(y_t)
    "MeanTokenEntropy": [0.75, 3.0, 0.25],                    # mean_t H_t
    "NumSemSets": [2.0, 1.0, 4.0],                            # distinct answers
    "EigValLaplacian_NLI_score_entail": [2.0, 1.0, 4.0],      # Σ max(0, 1 − λ_k) of blocks = #blocks
    "DegMat_NLI_score_entail": [1 - (0.75 ** 2 + 0.25 ** 2), 0.0, 0.75],  # 1 − Σ p_c²
    "SemanticEntropyEmpirical": [_plogp([0.75, 0.25]), 0.0, math.log(4)],
    # class log-prob = log Σ_{i in class} p(s_i); score = −mean_j of it over the M samples
    "SemanticEntropy": [-(3 * math.log(2 * math.exp(-0.1) + math.exp(-0.5)) - 1.0) / 4,
                        -math.log(4 * math.exp(-0.7)), (1.5 + 2.0 + 2.5 + 3.0) / 4],
    "LexicalSimilarity_rougeL": [None, -1.0, 0.0],  # identical samples: −1; disjoint words: 0
}


def test_statistics_by_hand():
    stats = polygraph_stats(RECORDS)
    np.testing.assert_allclose(stats["greedy_log_likelihoods"][0], [-0.5, -0.25])
    np.testing.assert_allclose(stats["entropy"][2], [0.25, 0.5, 0.0])
    np.testing.assert_allclose(stats["sample_log_probs"][0], [-0.1, -0.5, -1.0, -0.1])
    assert stats["sample_texts"][1] == ["Lyon"] * 4
    classes = stats["semantic_classes_entail"]
    assert classes["class_to_sample"][0] == [[0, 1, 3], [2]]
    assert classes["sample_to_class"][0] == {0: 0, 1: 0, 2: 1, 3: 0}
    assert classes["class_to_sample"][2] == [[0], [1], [2], [3]]
    entail = stats["semantic_matrix_entail"]
    assert entail.shape == (3, 4, 4)
    np.testing.assert_array_equal(entail[0], [[1, 1, 0, 1], [1, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 1]])
    np.testing.assert_array_equal(stats["semantic_matrix_contra"], 1 - entail)


def test_statistics_refuse_records_without_token_fields():
    old = {k: v for k, v in RECORDS[0].items() if k != "sample_token_logprobs"}
    with pytest.raises(SUAInputError, match="sample_token_logprobs"):
        polygraph_stats([old])
    with pytest.raises(SUAInputError, match="same number of samples"):
        polygraph_stats([RECORDS[0], {**RECORDS[1], "samples": ["Lyon"] * 3,
                                      "sample_token_logprobs": [[-0.7]] * 3}])


def _polygraph():
    return pytest.importorskip(
        "lm_polygraph", reason="lm-polygraph is a benchmark dependency, not installed here "
        "(pip install -c constraints.txt -r benchmarks/requirements-lm-polygraph.txt)")


def test_polygraph_estimators_on_bridged_statistics_match_hand_values():
    _polygraph()
    from lm_polygraph.estimators import (
        DegMat,
        EigValLaplacian,
        LexicalSimilarity,
        MaximumSequenceProbability,
        MeanTokenEntropy,
        NumSemSets,
        Perplexity,
        SemanticEntropy,
    )

    stats = polygraph_stats(RECORDS)
    estimators = [MaximumSequenceProbability(), Perplexity(), MeanTokenEntropy(), NumSemSets(),
                  EigValLaplacian(), DegMat(), SemanticEntropy(),
                  SemanticEntropy(class_probability_estimation="frequency"), LexicalSimilarity()]
    assert sorted(str(e) for e in estimators) == sorted(EXPECTED)
    for estimator in estimators:
        values = np.asarray(estimator(stats), dtype=np.float64)
        for got, want in zip(values, EXPECTED[str(estimator)], strict=True):
            if want is not None:
                assert got == pytest.approx(want, abs=1e-9), str(estimator)


@pytest.mark.parametrize("seed", range(2))
def test_prr_matches_lm_polygraph(seed):
    _polygraph()
    from lm_polygraph.ue_metrics.pred_rej_area import PredictionRejectionArea
    from lm_polygraph.ue_metrics.ue_metric import get_random_scores, normalize_metric

    rng = np.random.default_rng(seed)
    wrong = rng.random(200) < 0.4
    scores = wrong + rng.normal(scale=0.8, size=200)
    quality = (~wrong).astype(float)  # LM-Polygraph's target: higher = better
    prr = PredictionRejectionArea()
    theirs = normalize_metric(prr(scores, quality), prr(-quality, quality), get_random_scores(prr, quality))
    # theirs estimates the random baseline from 1000 shuffles; ours uses its exact mean
    assert prediction_rejection_ratio(scores, wrong) == pytest.approx(theirs, abs=0.01)
