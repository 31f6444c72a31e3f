"""Coverage of the estimator's confidence bands by simulation: the bands guide's table.

Run ``python tools/band_coverage.py`` (defaults: the guide's settings). Data:
``y = sin(2 pi x) + N(0, sd^2)`` at ``n`` equally spaced points on [0, 1], a fixed
Gaussian bandwidth, and bands on ``m`` equally spaced queries on [0, 1]; each draw
is one fit, read with ``variance="local"`` and ``"global"``. It prints, for each
order and variance:

* pointwise coverage: the average over the queries of the fraction of draws whose
  pointwise band ``predict_interval(alpha=alpha)`` covers the truth there;
* simultaneous coverage: the fraction of draws whose band
  ``predict_interval(alpha=alpha, simultaneous=True)`` covers the truth at every query.

``--explain`` adds the diagnosis of the local variance, with the smoother matrices
formed densely (small n only): its degrees-of-freedom factor, the effective
degrees of freedom of its noise, and the coverage of corrected variants (squared
residuals divided by their expectation factor ``1 - 2 L_jj + ||L_j||^2``; a wider
pilot bandwidth for the variance; a Student-t allowance for its noise).
Randomness: ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from scipy import optimize, stats

import nadaraya as nw
from nadaraya.stats.tube import critical_value, kappa0, weights_and_derivative


def truth(x):
    return np.sin(2 * np.pi * x)


def draws_of(rng, n, sd, draws):
    """The draws' noise-free truth plus noise as an (n, draws) target: draw i is row i of the generator's stream."""
    x = np.linspace(0, 1, n)
    return truth(x)[:, None] + rng.normal(0.0, sd, (draws, n)).T


def coverage(*, n=200, bandwidth=0.025, sd=0.3, draws=200, seed=0, order=1, m=100, alpha=0.05,
             variances=("local", "global")):
    """``{variance: (pointwise, simultaneous)}`` coverage of ``predict_interval`` over ``draws`` seeded draws.

    The draws are the columns of one multi-output fit (each column is fitted as on its own).
    """
    x, q = np.linspace(0, 1, n), np.linspace(0, 1, m)
    f = truth(q)[:, None]
    Y = draws_of(np.random.default_rng(seed), n, sd, draws)
    model = nw.NadarayaWatsonRegressor(bandwidth=bandwidth, order=order).fit(x[:, None], Y)
    out = {}
    for v in variances:
        model.variance = v  # read at predict time: one fit serves both
        lo, hi = model.predict_interval(q[:, None], alpha=alpha)
        pointwise = float(np.mean((lo <= f) & (f <= hi)))
        lo, hi = model.predict_interval(q[:, None], alpha=alpha, simultaneous=True)
        out[v] = (pointwise, float(np.mean(np.all((lo <= f) & (f <= hi), axis=0))))
    return out


def _t_tube(k0, nu, alpha):
    """The Sun–Loader critical value for a t-process with ``nu`` degrees of freedom (locfit's form)."""
    return optimize.brentq(lambda c: k0 / np.pi * (1 + c * c / nu) ** (-nu / 2) + 2 * stats.t.sf(c, nu) - alpha,
                           1.0, 50.0)


def explain(*, n=200, bandwidth=0.025, sd=0.3, draws=200, seed=0, order=1, m=100, alpha=0.05):
    """Rows ``(variant, pointwise, simultaneous, note)`` for the local variance and corrected variants (dense)."""
    x, q = np.linspace(0, 1, n), np.linspace(0, 1, m)
    L = weights_and_derivative(x, x, bandwidth, order=order)[0]
    Lq = weights_and_derivative(q, x, bandwidth, order=order)[0]
    IL = np.eye(n) - L
    dof = (IL**2).sum(axis=1)  # E r_j^2 / sigma^2 = 1 - 2 L_jj + ||L_j||^2 (no bias)
    norm = np.sqrt((Lq**2).sum(axis=1))
    k0 = kappa0(x, bandwidth, order=order, lower=0.0, upper=1.0)
    z, c = stats.norm.ppf(1 - alpha / 2), critical_value(k0, alpha)
    Y = draws_of(np.random.default_rng(seed), n, sd, draws).T  # (draws, n): the same draws as coverage()
    R, err = Y @ IL.T, np.abs(Y @ Lq.T - truth(q)[None, :])
    inner = slice(n // 10, n - n // 10)
    sigma = np.sqrt((R**2).sum(axis=1) / (n - 2 * np.trace(L) + (L**2).sum()))  # locfit's, per draw
    rows = [("global: RSS / (n - 2 nu1 + nu2)", *_cover(err, sigma[:, None] * norm[None, :], z, c), ""),
            ("global, covering E f (the smoothed truth)",
             *_cover(np.abs(Y @ Lq.T - Lq @ truth(x)), sigma[:, None] * norm[None, :], z, c),
             f"largest bias / se = {np.max(np.abs(Lq @ truth(x) - truth(q)) / (sd * norm)):.2f}")]
    for name, pilot, corrected in (("local (the estimator's)", 1, False), ("local, residuals / dof factor", 1, True),
                                   ("local, dof, pilot 4h", 4, True), ("local, dof, pilot 8h", 8, True)):
        A = weights_and_derivative(q, x, pilot * bandwidth, order=0)[0] / (dof if corrected else np.ones(n))[None, :]
        se = np.sqrt((R**2) @ A.T) * norm[None, :]
        # Satterthwaite: sum_j A_qj r_j^2 = e' M e, M = (I - L)' diag(A_q) (I - L): nu = (tr M)^2 / tr M^2
        nu = np.array([np.trace(M) ** 2 / (M * M).sum() for M in (IL.T @ (a[:, None] * IL) for a in A)])
        note = f"variance df ~ {np.median(nu):.0f}"
        if not corrected:
            note += f"; E r^2 / sigma^2 = {dof[inner].mean():.3f} inside, {dof.min():.3f} at the ends"
        rows.append((name, *_cover(err, se, z, c), note))
        tq, tc = stats.t.ppf(1 - alpha / 2, nu)[None, :], _t_tube(k0, np.median(nu), alpha)
        rows.append((name + " + t allowance", *_cover(err, se, tq, tc), f"t_nu(q) pointwise, t-tube c = {tc:.3f}"))
    return rows


def _cover(err, se, z, c):
    return float(np.mean(err <= z * se)), float(np.mean(np.all(err <= c * se, axis=1)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--bandwidth", type=float, default=0.025)
    ap.add_argument("--sd", type=float, default=0.3)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--orders", type=int, nargs="+", default=[1, 0])
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--explain", action="store_true", help="add the dense diagnosis of the local variance")
    a = ap.parse_args(argv)
    settings = dict(n=a.n, bandwidth=a.bandwidth, sd=a.sd, draws=a.draws, seed=a.seed, alpha=a.alpha)
    print(f"settings: {settings}")
    print("| order | variance | pointwise | simultaneous |\n|---|---|---|---|")
    for order in a.orders:
        for v, (pw, sim) in coverage(order=order, **settings).items():
            print(f"| {order} | {v} | {pw:.3f} | {sim:.3f} |", flush=True)
    if a.explain:
        for order in a.orders:
            print(f"\norder {order}\n| variant | pointwise | simultaneous | note |\n|---|---|---|---|")
            for name, pw, sim, note in explain(order=order, **settings):
                print(f"| {name} | {pw:.3f} | {sim:.3f} | {note} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
