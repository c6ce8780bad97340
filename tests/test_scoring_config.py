"""The scoring settings objects: checked once when made, defaults from sua.defaults, keyword
overrides equal to the object they replace, task fields resolved in one place."""

from __future__ import annotations

import math

import pytest

from sua import defaults
from sua.errors import SUAInputError
from sua.inputs import Example
from sua.models import CallableModel
from sua.perturb import TokenPerturber
from sua.scoring import Fields, QAScorer, ScoringConfig, SUAScorer
from sua.scoring.run import ScoreRequest
from sua.tasks import KINDS


def _model() -> CallableModel:
    return CallableModel(lambda texts: [[0.25, 0.75] if len(t) % 2 else [0.6, 0.4] for t in texts],
                         ["neg", "pos"])


def test_defaults_come_from_sua_defaults():
    config = ScoringConfig()
    assert (config.k, config.divergence, config.lam, config.seed) == (defaults.K, defaults.DIVERGENCE,
                                                                      defaults.LAM, 0)
    assert config.perturb_field == "auto" and config.thresholds == {}


@pytest.mark.parametrize(("settings", "match"), [
    ({"k": 0}, "k \\(perturbations per input\\) must be an integer >= 1, got 0"),
    ({"k": 2.0}, "k .* integer"),
    ({"k": True}, "k .* integer"),
    ({"lam": -0.5}, "lam must be a finite number >= 0"),
    ({"lam": math.nan}, "lam must be a finite number >= 0"),
    ({"lam": math.inf}, "lam must be a finite number >= 0"),
    ({"divergence": "nope"}, "nope"),
    ({"perturb_field": "question"}, "perturb_field"),
])
def test_config_refuses_bad_settings(settings, match):
    with pytest.raises(SUAInputError, match=match):
        ScoringConfig(**settings)
    with pytest.raises(SUAInputError, match=match):  # the same check through a scorer's keywords
        SUAScorer(_model(), TokenPerturber(), **settings)


def test_keywords_replace_fields_of_the_config():
    base = ScoringConfig(k=4, lam=0.5, seed=3)
    scorer = SUAScorer(_model(), TokenPerturber(), base, lam=0.2)
    assert scorer.settings == ScoringConfig(k=4, lam=0.2, seed=3) and base.lam == 0.5
    assert SUAScorer(_model(), TokenPerturber(), k=4, lam=0.5, seed=3).settings == base
    with pytest.raises(TypeError):
        SUAScorer(_model(), TokenPerturber(), kk=4)
    examples = [Example("a", "one two three"), Example("b", "four five")]
    by_keywords = SUAScorer(_model(), TokenPerturber(), k=4, lam=0.5, seed=3).score_batch(examples)
    by_config = SUAScorer(_model(), TokenPerturber(), base).score_batch(examples)
    assert [r.to_dict() for r in by_keywords] == [r.to_dict() for r in by_config]
    assert by_config[0].sua == pytest.approx(by_config[0].sensitivity - 0.5 * by_config[0].entropy)


def test_qa_scorer_rewrites_only_the_question():
    class Spans:
        labels: list[str] = []

        def span_distributions(self, items):  # never called here
            raise AssertionError

    assert QAScorer(Spans(), TokenPerturber()).settings.perturb_field == "pair"
    assert QAScorer(Spans(), TokenPerturber(), ScoringConfig(k=2)).settings.perturb_field == "pair"
    with pytest.raises(SUAInputError, match="only the question"):
        QAScorer(Spans(), TokenPerturber(), perturb_field="text")


def test_fields_of_a_task_given_fields_win_and_empty_means_none():
    nli, qa = KINDS["nli"], KINDS["qa"]
    assert Fields.of_task(nli) == Fields("premise", "hypothesis", "label", "id")
    assert Fields.of_task(nli, text_field="p", pair_field="", label_field="", id_field="uid") == \
        Fields("p", None, None, "uid")
    assert Fields.of_task(qa) == Fields("context", "question", "answers", "id")
    assert Fields.of_task(KINDS["classification"]).pair_field is None
    assert Fields("a", "b").reader() == {"text_field": "a", "pair_field": "b", "label_field": "label",
                                         "id_field": "id"}


def test_request_needs_exactly_one_source(tmp_path):
    with pytest.raises(SUAInputError, match="exactly one of --data"):
        ScoreRequest(tmp_path / "o.jsonl")
    with pytest.raises(SUAInputError, match="exactly one of --data"):
        ScoreRequest(tmp_path / "o.jsonl", data="d.jsonl", predictions="p.jsonl")
    assert ScoreRequest(tmp_path / "o.jsonl", data="d.jsonl").config == ScoringConfig()
