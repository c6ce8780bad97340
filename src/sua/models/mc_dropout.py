"""Self-consistency of an encoder classifier by MC dropout: M stochastic passes, dropout on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sua.errors import SUAInputError
from sua.inputs import ModelInput
from sua.models.hf_classifier import HFSequenceClassifier


@dataclass(frozen=True)
class MCDropoutVotes:
    """M stochastic predictions per input.

    ``votes`` (N, C): the fraction of the M passes whose argmax is each class (the vote
    distribution); ``modal`` (N,): the most voted class id (ties: the lowest id);
    ``agreement`` (N,): ``max_c votes[n, c]``, the agreement rate of the modal label, in
    ``[1/C, 1]`` (the self-consistency confidence); ``mean_proba`` (N, C): the mean softmax
    over the M passes.
    """

    votes: np.ndarray
    modal: np.ndarray
    agreement: np.ndarray
    mean_proba: np.ndarray


def mc_dropout_votes(classifier: HFSequenceClassifier, inputs: Sequence[ModelInput], *,
                     passes: int = 10, seed: int = 0) -> MCDropoutVotes:
    """Run every input ``passes`` times with dropout on and count the argmax votes.

    ``agreement(x) = max_c (1/M) Σ_m 1[argmax p^(m)(·|x) = c]`` with ``p^(m)`` the m-th pass
    in training mode (dropout active). The M copies of an input share a batch, so one
    forward pass serves ``classifier.batch_size`` rows whatever M is; dropout masks are drawn
    from a generator seeded with ``seed`` (the global torch RNG is left as it was) and the
    model's mode is restored afterwards. With dropout probability 0 every pass agrees.

    >>> # v = mc_dropout_votes(clf, [("A man plays.", "Someone plays.")], passes=20)
    >>> # v.agreement  -> array([0.95])
    """
    if not isinstance(passes, int) or passes < 1:
        raise SUAInputError(f"passes must be a positive integer, got {passes!r}")
    tokenized = classifier.tokenize(inputs)
    n, c, model = len(tokenized), len(classifier.labels), classifier.model
    rows = [t for t in tokenized for _ in range(passes)]
    proba = np.empty((len(rows), c), dtype=np.float64)
    was_training = model.training
    devices = [classifier.device] if classifier.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        model.train()
        try:
            for start in range(0, len(rows), classifier.batch_size):
                batch = classifier.tokenizer.pad(rows[start:start + classifier.batch_size],
                                                 return_tensors="pt").to(classifier.device)
                logits = model(**batch).logits.double()
                proba[start:start + len(logits)] = torch.softmax(logits, -1).cpu().numpy()
        finally:
            model.train(was_training)
    proba = proba.reshape(n, passes, c)
    votes = (proba.argmax(-1)[..., None] == np.arange(c)).mean(axis=1)
    return MCDropoutVotes(votes=votes, modal=votes.argmax(-1), agreement=votes.max(-1),
                          mean_proba=proba.mean(1))
