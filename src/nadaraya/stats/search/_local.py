"""The global search's evaluations (cached, counted) and its local descent on a smooth criterion.

The descent is BFGS on a variable per coordinate that is ``log h`` up to
``top`` and ``1 / h**2`` (linearly) past it (:class:`_Scale`), so that a
feature on its way to being smoothed out reaches the top of its box in a
step or two; there it is set to infinity and the descent goes on without it.
"""

from __future__ import annotations

import numpy as np

#: Forward-difference step of the descent's variable, without the criterion's gradient.
FD_STEP = 1e-5
#: Central-difference step, once forward differences no longer gain.
CENTRAL_STEP = 1e-4
#: Longest step of the descent on its variable (on log h: a factor e**2 per iteration).
MAX_STEP = 2.0
#: A coordinate smoothed out during a descent is tried this far below the top of its variable (at about
#: 22 times ``exp(top)``) once the descent ends: it may want a finite value now that the others settled.
REVISIT = 1e-3
#: A descent that comes this close (on the variable; infinity 1 past the top of its box) to a step of an
#: earlier descent, with a value no better, stops there: the earlier descent went on from that step.
MERGE = 0.05


class Spent(Exception):
    """The evaluation budget is spent."""


class Counted:
    """The objective with a cache, a call count, the best point so far and a budget; NaN counts as +inf.

    ``gradient(h) -> (value, d value / d log h)``, if given, counts as one evaluation; ``paths`` keeps
    the steps of finished descents (variable of every coordinate, value).
    """

    def __init__(self, fun, progress, budget, gradient=None):
        self.fun, self.progress, self.budget, self.calls, self.cache = fun, progress, budget, 0, {}
        self.gradient, self.grads = gradient, {}
        self.best = (np.inf, None)
        self.paths = []

    def _new(self, h, compute):
        if self.calls >= self.budget:
            raise Spent
        out = compute(h.copy())
        self.calls += 1
        v = float(out[0] if isinstance(out, tuple) else out)
        v = np.inf if np.isnan(v) else v
        if v < self.best[0]:
            self.best = (v, h.copy())
        if self.progress is not None:
            self.progress(self.calls, None, h, v)
        return v, out

    def __call__(self, h):
        h = np.asarray(h, dtype=np.float64)
        key = tuple(np.round(np.log(h), 12))
        if key not in self.cache:
            self.cache[key] = self._new(h, self.fun)[0]
        return self.cache[key]

    def value_and_grad(self, h):
        """The value and its gradient on log h (0 at infinite coordinates)."""
        h = np.asarray(h, dtype=np.float64)
        key = tuple(np.round(np.log(h), 12))
        if key not in self.grads:
            v, (_, g) = self._new(h, self.gradient)
            self.cache.setdefault(key, v)
            self.grads[key] = np.where(np.isfinite(h), np.asarray(g, dtype=np.float64), 0.0)
        return self.cache[key], self.grads[key]


class _Scale:
    """The descent's variable w per coordinate: ``w = log h`` up to ``top``, then ``1 / h**2`` falls linearly,
    ``h = exp(top) / sqrt(1 - 2 (w - top))``, to 1e-8 of its value at ``top`` at the top of the box.

    Every kernel's criterion is smooth in ``1 / h**2`` once h is wider than the data, so a feature that
    is better smoothed out gets there in a step or two instead of creeping up on ``log h``; the two
    pieces join with the same slope.
    """

    def __init__(self, top, allow_infinite):
        self.top = top
        self.upper = top + 0.5 * (1 - 1e-8) if allow_infinite else top

    def w(self, h):
        t = np.log(h)
        past = t > self.top
        return np.where(past, self.top + 0.5 * (1 - np.exp(2 * (self.top - np.where(past, t, self.top)))), t)

    def h(self, w):
        past = w > self.top
        return np.where(past, np.exp(self.top) / np.sqrt(np.maximum(1 - 2 * (w - self.top), 1e-300)),
                        np.exp(np.minimum(w, self.top)))

    def dlogh(self, w):
        """d log h / d w."""
        return np.where(w > self.top, 1.0 / np.maximum(1 - 2 * (w - self.top), 1e-300), 1.0)


def descend(f: Counted, h, lo, top, allow_infinite, max_iter=100):
    """BFGS on the variable (:class:`_Scale`) of the finite coordinates of h, projected on its box [lo, top+].

    Returns (h, value, merged). The line search backtracks from the quasi-Newton step (at most
    ``MAX_STEP`` long). Without the criterion's gradient, forward differences serve until a step no longer
    gains, then central ones. It stops when a step no longer decreases the criterion (its rounding noise),
    when steps become tiny, or on the path of an earlier descent (``merged``). A coordinate at the top of
    its box and still rising is set to infinity and left out.
    """
    h = np.array(h, dtype=np.float64)
    fin = np.flatnonzero(np.isfinite(h))
    if not fin.size:
        return h, f(h), False
    sc = _Scale(top[fin], allow_infinite)
    l, u = lo[fin], sc.upper
    t = np.clip(sc.w(h[fin]), l, u)
    central = False

    def point(x):
        hh = h.copy()
        hh[fin] = sc.h(x)
        return hh

    def value_at(x):  # with the gradient, if there is one, for the step that follows
        return f.value_and_grad(point(x))[0] if f.gradient is not None else f(point(x))

    def grad(x, v):
        if f.gradient is not None:
            return f.value_and_grad(point(x))[1][fin] * sc.dlogh(x)
        g = np.zeros(x.size)
        for i in range(x.size):
            e = np.where(np.arange(x.size) == i, CENTRAL_STEP if central else FD_STEP, 0.0)
            if central and l[i] <= x[i] - e[i] and x[i] + e[i] <= u[i]:
                vp, vm = f(point(x + e)), f(point(x - e))
                g[i] = (vp - vm) / (2 * e[i]) if np.isfinite(vp) and np.isfinite(vm) else 0.0
            else:
                e = e if x[i] + e[i] <= u[i] else -e
                vi = f(point(x + e))
                g[i] = (vi - v) / e[i] if np.isfinite(vi) else 0.0
        return g

    value = value_at(t)
    if not np.isfinite(value):
        return point(t), value, False
    g = grad(t, value)
    whole = _Scale(top, allow_infinite).upper + 1.0  # every coordinate's variable; infinity past the top

    def at(x):
        w = whole.copy()
        w[fin] = x
        return w

    ahead, H = list(f.paths), None  # H: the inverse Hessian approximation
    path, merged, dropped = [(at(t), value)], False, []
    for _ in range(max_iter):
        merged = any(v <= value and np.abs(w - path[-1][0]).max() <= MERGE for w, v in ahead)
        if merged:
            break
        free = ~(((t <= l) & (g > 0)) | ((t >= u) & (g < 0)))
        if not free.any():
            break
        p = np.zeros(t.size)
        if H is not None:
            p[free] = -H[np.ix_(free, free)] @ g[free]
        if H is None or not g @ p < 0:
            H = None
            p[free] = -g[free] / max(np.abs(g[free]).max(), 1e-300) * 0.5
        if not np.abs(p).max() > 0:
            break
        p *= min(1.0, MAX_STEP / np.abs(p).max())
        slope, alpha, vn, s = g @ p, 1.0, np.inf, np.zeros(t.size)
        while alpha * np.abs(p).max() > 1e-7:
            tn = np.clip(t + alpha * p, l, u)
            s = tn - t
            vn = value_at(tn)
            if vn <= value + 1e-4 * (g @ s):
                break
            # backtrack: the minimiser of the quadratic through value, slope and vn, within [0.1, 0.5] alpha
            a = -slope * alpha**2 / (2.0 * (vn - value - slope * alpha)) if np.isfinite(vn) else 0.0
            alpha = float(np.clip(a, 0.1 * alpha, 0.5 * alpha))
        gain = value - vn
        if not gain > 1e-13 * abs(value):  # no real decrease: differences too coarse, or the end
            if f.gradient is not None or central:
                break
            central = True
            g = grad(t, value)
            continue
        if central and gain <= 1e-10 * abs(value):
            t, value = tn, vn
            break  # central differences gain no more than rounding: the end
        gn = grad(tn, vn)
        yv = gn - g
        t, value, g = tn, vn, gn
        path.append((at(t), value))
        sy = s @ yv
        if sy > 1e-12 * np.linalg.norm(s) * np.linalg.norm(yv):
            H = np.eye(t.size) * sy / (yv @ yv) if H is None else H
            V = np.eye(t.size) - np.outer(s, yv) / sy
            H = V @ H @ V.T + np.outer(s, s) / sy
        drop = (t >= u) & (g < 0) if allow_infinite else np.zeros(t.size, dtype=bool)
        if drop.any():  # at the top of the box and still rising: smoothed out, the descent goes on without it
            h = point(t)
            h[fin[drop]] = np.inf
            dropped += list(fin[drop])
            fin, t = fin[~drop], t[~drop]
            if not fin.size:
                value = f(h)
                break
            H = None if H is None else H[np.ix_(~drop, ~drop)]
            sc = _Scale(top[fin], allow_infinite)
            l, u, g = lo[fin], sc.upper, g[~drop]  # the gradient at the top stands for the one at infinity
            value = value_at(t)
            path.append((at(t), value))
        elif np.abs(s).max() < 1e-9:
            break
    f.paths += path
    h = point(t)
    for j in dropped if not merged else ():
        trial = h.copy()
        trial[j] = _Scale(top[j], True).h(_Scale(top[j], True).upper - REVISIT)
        if f(trial) < value:
            return descend(f, trial, lo, top, allow_infinite, max_iter)
    return h, value, merged


def local(f: Counted, h, lo, top, start, allow_infinite):
    """A descent from h, then single moves to (or from) infinity that improve, each followed by a descent,
    until none improves or a descent joins the path of an earlier one."""
    h, value, merged = descend(f, h, lo, top, allow_infinite)
    for _ in range(2 * h.size if allow_infinite and not merged else 0):
        best = (value, None)
        for j in range(h.size):
            trial = h.copy()
            trial[j] = np.inf if np.isfinite(h[j]) else start[j]
            v = f(trial)
            if v < best[0]:
                best = (v, trial)
        if best[1] is None:
            break
        h, value, merged = descend(f, best[1], lo, top, allow_infinite)
        if merged:
            break
    return h, value
