#!/usr/bin/env python3
"""Independent reference values for the report statistics (Sources/Metrics/StudentT.swift,
Sources/Metrics/Multiplicity.swift), computed with scipy and statsmodels-free numpy.

Prints:
  - the minimum detectable effect (MDE) of a paired two-sided t test at alpha = 0.05 and 80% power,
    in standard deviations of the paired difference, for n = 2, 3, 5, 10, 20, from the noncentral t
    distribution (scipy.stats.nct): the delta with P(|T'| > t_{0.975, n-1}) = 0.8, T' ~ nct(n-1, delta*sqrt(n));
  - the power of that test at a few (n, delta) points;
  - two-sided p-values of Student's t at a few (t, df) points;
  - Holm-adjusted p-values of [0.01, 0.04, 0.03, 0.005].
Run: python3 scripts/stats/reference_values.py   (scipy 1.x)
"""
import numpy as np
from scipy import optimize, stats


def power(n, delta, alpha=0.05):
    df = n - 1
    c = stats.t.ppf(1 - alpha / 2, df)
    lam = delta * np.sqrt(n)
    # the lower tail is negligible (and scipy returns nan there) for large noncentrality
    lower = stats.nct.cdf(-c, df, lam)
    return stats.nct.sf(c, df, lam) + (0.0 if np.isnan(lower) else lower)


def mde(n, alpha=0.05, target=0.8):
    return optimize.brentq(lambda d: power(n, d, alpha) - target, 1e-6, 20.0, xtol=1e-12)


def holm(p):
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


if __name__ == "__main__":
    for n in (2, 3, 5, 10, 20):
        print(f"mde n={n}: {mde(n):.6f}")
    for n, d in ((3, 1.0), (5, 2.0), (10, 0.5)):
        print(f"power n={n} delta={d}: {power(n, d):.6f}")
    for t, df in ((2.0, 2), (1.0, 4), (3.5, 9), (0.3, 1), (2.2, 40)):
        print(f"p two-sided t={t} df={df}: {2 * stats.t.sf(t, df):.10f}")
    print("holm [0.01, 0.04, 0.03, 0.005]:", [round(x, 10) for x in holm([0.01, 0.04, 0.03, 0.005])])
