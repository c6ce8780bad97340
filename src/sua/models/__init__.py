"""Model adapters: turn inputs (texts or text pairs) into predictive distributions p(y|x)."""

from sua.models.backbones import default_backbone_path
from sua.models.base import PredictiveModel
from sua.models.callable import CallableModel
from sua.models.hf_classifier import HFSequenceClassifier, Tokenized
from sua.models.label_groups import GroupedLabels
from sua.models.loading import load_model
from sua.models.mc_dropout import MCDropoutVotes, mc_dropout_votes
from sua.models.options import ModelOptions
from sua.models.qa_span import HFExtractiveQA, Span, SpanDistribution
from sua.models.sklearn_model import SklearnModel

__all__ = [
    "GroupedLabels",
    "CallableModel",
    "HFExtractiveQA",
    "HFSequenceClassifier",
    "MCDropoutVotes",
    "ModelOptions",
    "PredictiveModel",
    "SklearnModel",
    "Span",
    "SpanDistribution",
    "Tokenized",
    "default_backbone_path",
    "load_model",
    "mc_dropout_votes",
]
