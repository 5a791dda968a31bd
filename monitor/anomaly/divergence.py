"""The exact one-bucket test of edge divergence: is a bucket's shortfall more than chance allows?

Under the edge's promise each expected event arrives with probability ``ratio * (1 - tolerance)``;
the exact binomial tail ``P(X <= arrived)`` is the evidence. The sequential detector
(``divergence_cusum``) uses it for large loss in one bucket, beside its CUSUMs for small sustained
loss. (It replaced the foundation's first version, which judged each bucket alone.)
"""

from __future__ import annotations

from scipy.stats import betabinom, binom


def shortfall_pvalue(
    expected: int,
    arrived: int,
    delivery: float,
    dispersion: float = 1.0,
    mean_expected: float = 0.0,
) -> float:
    """P(at most ``arrived`` of ``expected`` arrive) when each arrives with probability ``delivery``.

    ``dispersion`` is the measured quasi-binomial φ (variance ratio to the binomial at
    ``mean_expected`` events per bucket). When it is above 1 the bucket's share itself varies
    (a mix that changes from bucket to bucket), and the exact binomial tail would call ordinary
    variation loss: the tail is then beta-binomial with the intra-bucket correlation
    ``ρ = (φ − 1)/(n̄ − 1)`` that reproduces φ (``Var = n p (1 − p) (1 + (n − 1) ρ)``).
    """
    if expected <= 0 or arrived >= expected:
        return 1.0
    if delivery >= 1.0:
        return 0.0  # the edge promised every event; any shortfall is impossible under the promise
    if dispersion > 1.0 and mean_expected > 1.0 and delivery > 0.0:
        rho = min((dispersion - 1.0) / (mean_expected - 1.0), 0.999)
        a = delivery * (1.0 - rho) / rho
        b = (1.0 - delivery) * (1.0 - rho) / rho
        return float(betabinom.cdf(arrived, expected, a, b))
    return float(binom.cdf(arrived, expected, delivery))
