"""Grids along one coordinate of the global search: its check of a result, and the sweeps and Nelder–Mead polish
of a criterion that is not smooth (a compact kernel's support edges put kinks in it)."""

from __future__ import annotations

import numpy as np
from scipy import optimize


def check(f, h, value, lo, hi, allow_infinite, n_check):
    """Each coordinate on an ``n_check``-point log grid of its box (and infinity), the others fixed: the best
    point that beats ``value``, or None."""
    best = (value, None)
    for j in range(h.size):
        for v in list(np.exp(np.linspace(lo[j], hi[j], n_check))) + ([np.inf] if allow_infinite else []):
            trial = h.copy()
            trial[j] = v
            fv = f(trial)
            if fv < best[0] - 1e-12 * abs(best[0]):
                best = (fv, trial)
    return best[1]


def _sweep_coordinate(f, h, j, lo, hi, n_grid, allow_infinite):
    """Best value of coordinate j with the others fixed: grid + infinity, then Brent."""
    grid = np.exp(np.linspace(lo[j], hi[j], n_grid))
    cands = list(grid) + ([np.inf] if allow_infinite else [])

    def at(v):
        g = h.copy()
        g[j] = v
        return f(g)

    vals = np.array([at(v) for v in cands])
    best = int(np.argmin(vals))
    if not np.isfinite(vals[best]):
        return h[j], f(h)
    cand = []
    if best < n_grid - 1 or not allow_infinite:  # an interior (or last-grid) minimum: Brent on log h
        a, b = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, n_grid - 1)])
        res = optimize.minimize_scalar(lambda t: at(np.exp(t)), bounds=(a, b), method="bounded",
                                       options={"xatol": 1e-7})
        cand += [(vals[best], cands[best]), (res.fun, float(np.exp(res.x)))]
    else:  # the last grid point or infinity: Brent on 1 / h between 0 and the last grid point
        s_lo = 1.0 / grid[-2] if best == n_grid - 1 else 1.0 / grid[-1]
        res = optimize.minimize_scalar(lambda s: at(np.inf if s <= 0 else 1.0 / s), bounds=(0.0, s_lo),
                                       method="bounded", options={"xatol": 1e-9 * s_lo})
        cand += [(vals[best], cands[best]), (res.fun, np.inf if res.x <= 0 else float(1.0 / res.x))]
    cand.append((f(h), h[j]))  # never worse than where the sweep started
    value, v = min(cand, key=lambda t: t[0])
    return v, value


def sweeps(f, h, lo, hi, n_grid, allow_infinite, max_sweeps=8):
    """Coordinate sweeps (:func:`_sweep_coordinate` on each coordinate in turn) until one gains nothing."""
    h = np.array(h, dtype=np.float64)
    value = f(h)
    for _ in range(max_sweeps):
        before = value
        for j in range(len(h)):
            h[j], value = _sweep_coordinate(f, h, j, lo, hi, n_grid, allow_infinite)
        if not before - value > 1e-12 * max(abs(before), 1e-300):
            break
    return h, value


def polish(f, h, lo, hi):
    """Nelder–Mead on log h of the finite coordinates (the box widened by a factor e**5)."""
    fin = np.isfinite(h)
    if not fin.any():
        return h, f(h)

    def g(t):
        hh = h.copy()
        hh[fin] = np.exp(np.clip(t, lo[fin] - 5, hi[fin] + 5))
        return f(hh)

    res = optimize.minimize(g, np.log(h[fin]), method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-13, "maxiter": 400 * fin.sum()})
    out = h.copy()
    out[fin] = np.exp(np.clip(res.x, lo[fin] - 5, hi[fin] + 5))
    return (out, float(res.fun)) if res.fun < f(h) else (h, f(h))
