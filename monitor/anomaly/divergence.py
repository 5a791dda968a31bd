"""The exact one-bucket test of edge divergence: is a bucket's shortfall more than chance allows?

Under the edge's promise each expected event arrives with probability ``ratio * (1 - tolerance)``;
the exact binomial tail ``P(X <= arrived)`` is the evidence. The sequential detector
(``divergence_cusum``) uses it for large loss in one bucket, beside its CUSUMs for small sustained
loss. (It replaced the foundation's first version, which judged each bucket alone.)
"""

from __future__ import annotations

from scipy.stats import binom


def shortfall_pvalue(expected: int, arrived: int, delivery: float) -> float:
    """P(at most ``arrived`` of ``expected`` arrive) when each arrives with probability ``delivery``."""
    if expected <= 0 or arrived >= expected:
        return 1.0
    if delivery >= 1.0:
        return 0.0  # the edge promised every event; any shortfall is impossible under the promise
    return float(binom.cdf(arrived, expected, delivery))
