"""Training: the SUA-TR loss (eq. 15–18), the one training loop behind every method
(Standard, PGD adversarial training, SUA-TR and the Table 3 ablations) for classifiers and
extractive QA, and ``train_model``."""

from sua.train.adversarial import EmbeddingPGD
from sua.train.api import load_backbone, train_model
from sua.train.config import METHODS, PRESETS, Runtime, TrainConfig, TrainData, make_config
from sua.train.heads import HEADS
from sua.train.loss import LossTerms, SUATRLoss
from sua.train.rewrites import perturbed_inputs
from sua.train.trainer import SUATrainer

__all__ = [
    "HEADS",
    "METHODS",
    "PRESETS",
    "EmbeddingPGD",
    "LossTerms",
    "SUATRLoss",
    "Runtime",
    "SUATrainer",
    "TrainConfig",
    "TrainData",
    "load_backbone",
    "make_config",
    "perturbed_inputs",
    "train_model",
]
