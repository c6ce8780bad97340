"""The statistics LM-Polygraph's estimators read, built from cached generative records.

LM-Polygraph (``lm-polygraph`` 0.7.0) computes sequence-level uncertainty scores with
*estimators* that read a dictionary of *statistics*, batched over inputs, normally filled by its
own model wrappers in a generation pass. :func:`polygraph_stats` fills that dictionary from the
records :class:`~sua.scoring.generative.GenerativeSUAScorer` writes, so its estimators score the
answers ``sua`` already generated, with no second generation pass. For a batch of B records,
each with the greedy answer ``y`` and M samples ``s_1..s_M`` of the question itself:

- ``greedy_log_likelihoods[b]`` = ``(log p(y_t | x, y_<t))_t`` and ``entropy[b]`` =
  ``(−Σ_v p(v | x, y_<t) log p(v | x, y_<t))_t`` over the greedy answer's tokens, the token that
  ended it included (LM-Polygraph's greedy convention: its end-of-sequence token counts);
- ``sample_texts[b]`` = ``[s_1..s_M]``; ``sample_log_likelihoods[b][j]`` the token log-probs
  of ``s_j``; ``sample_log_probs[b][j]`` = their sum ``log p(s_j | x)``, the ending token
  included (as LM-Polygraph's sampling calculator sums it);
- semantic equivalence: LM-Polygraph asks an NLI model (DeBERTa-large-MNLI) for
  ``semantic_matrix_entail[b, i, j] = p(entail | s_i, s_j)`` and ``..._contra``. No 3-way NLI
  model is available offline here, so the matrices are those of SQuAD-normalised exact match,
  the equivalence ``sua``'s clusters use: ``entail[b, i, j] = 1`` when ``normalize(s_i) =
  normalize(s_j)`` else 0, and ``contra = 1 − entail``; ``semantic_classes_entail`` holds the
  resulting classes (``sample_to_class[b][j]``, ``class_to_sample[b][c]``), in order of first
  appearance as LM-Polygraph's greedy class assignment gives on such a matrix.

Under that substitution some estimators reduce to closed forms (checked in the tests):
``NumSemSets`` = ``EigValLaplacian`` = the number of distinct answers C, ``DegMat`` =
``1 − Σ_c p_c²`` with ``p_c`` the share of samples in class c, and ``SemanticEntropyEmpirical``
= ``−Σ_c p_c log p_c``, the discrete semantic entropy ``sua`` records.

>>> rec = {"answer_token_logprobs": [-0.5, -0.1], "answer_token_entropies": [1.0, 0.2],
...        "samples": ["Paris", "paris.", "Lyon"],
...        "sample_token_logprobs": [[-0.2, -0.1], [-1.0, -0.5], [-2.0, -0.3]]}
>>> stats = polygraph_stats([rec])
>>> stats["semantic_classes_entail"]["class_to_sample"][0], stats["sample_log_probs"][0]
([[0, 1], [2]], [-0.30000000000000004, -1.5, -2.3])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sua.errors import SUAInputError
from sua.models.clustering import ExactMatchClusterer

#: The record fields :func:`polygraph_stats` reads (written by ``GenerativeSUAScorer``).
RECORD_FIELDS = ("answer_token_logprobs", "answer_token_entropies", "samples", "sample_token_logprobs")


def exact_match_classes(texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
    """The (M, M) 0/1 matrix ``E[i, j] = [normalize(t_i) = normalize(t_j)]`` and each text's
    class id (classes numbered in order of first appearance)."""
    ids = ExactMatchClusterer().cluster(list(texts))
    ids_arr = np.asarray(ids)
    return (ids_arr[:, None] == ids_arr[None, :]).astype(np.float64), ids


def polygraph_stats(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """LM-Polygraph's statistics for a batch of generative records (module doc for each key).

    Every record needs :data:`RECORD_FIELDS`, non-empty token lists and the same number M of
    samples (LM-Polygraph stacks the semantic matrices into one (B, M, M) array).
    """
    if not records:
        raise SUAInputError("polygraph_stats needs at least one record")
    missing = sorted({f for r in records for f in RECORD_FIELDS if not r.get(f)})
    if missing:
        raise SUAInputError(f"records lack the token-level fields {missing}; score them with a sua "
                            "version that stores them (GenerativeSUAScorer) and a backend that "
                            "returns token log-probs")
    m = {len(r["samples"]) for r in records}
    if len(m) != 1 or any(len(r["sample_token_logprobs"]) != len(r["samples"]) for r in records):
        raise SUAInputError(f"every record needs the same number of samples, each with its token "
                            f"log-probs; got sample counts {sorted(m)}")
    entail, sample_to_class, class_to_sample = [], {}, {}
    for b, r in enumerate(records):
        matrix, ids = exact_match_classes(r["samples"])
        entail.append(matrix)
        sample_to_class[b] = dict(enumerate(ids))
        class_to_sample[b] = [[j for j, c in enumerate(ids) if c == k] for k in range(max(ids) + 1)]
    entail_arr = np.stack(entail)
    return {
        "greedy_log_likelihoods": [np.asarray(r["answer_token_logprobs"], dtype=np.float64) for r in records],
        "entropy": [np.asarray(r["answer_token_entropies"], dtype=np.float64) for r in records],
        "sample_texts": [list(r["samples"]) for r in records],
        "sample_log_likelihoods": [[np.asarray(lp, dtype=np.float64) for lp in r["sample_token_logprobs"]]
                                   for r in records],
        "sample_log_probs": [[float(np.sum(lp)) for lp in r["sample_token_logprobs"]] for r in records],
        "semantic_matrix_entail": entail_arr,
        "semantic_matrix_contra": 1.0 - entail_arr,
        "semantic_classes_entail": {"sample_to_class": sample_to_class, "class_to_sample": class_to_sample},
    }
