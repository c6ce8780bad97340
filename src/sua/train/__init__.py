"""Training: standard fine-tuning now; SUA-TR and the training baselines build on it."""

from sua.train.finetune import finetune_classifier

__all__ = ["finetune_classifier"]
