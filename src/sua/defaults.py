"""The package's default settings, set once: every signature and CLI option that has them
reads them from here (``paper/SPEC.md``: K = 8 rewrites, the Jensen–Shannon divergence, λ = 1).

>>> K, DIVERGENCE, LAM
(8, 'jsd', 1.0)
"""

#: Rewrites x'_1..x'_K drawn per input.
K = 8
#: The divergence D in S(x) = E_k D(p(·|x) ‖ p(·|x'_k)) (a name of sua.measures' registry).
DIVERGENCE = "jsd"
#: The alignment coefficient λ in SUA(x) = S(x) − λ·H(x).
LAM = 1.0
#: Answers sampled per input (and per distinct rewrite) when a generative task is scored.
M = 10
