"""Section estimator: ``NadarayaWatsonRegressor`` fit against predict, and leave-one-out fits, at scale.

A fit at a fixed bandwidth computes the fitted state (leave-one-out error, fitted
values, hat diagonal, ``nu2 = tr H'H`` for locfit's residual variance); this
section measures it against ``predict`` on the training inputs, which is one
pooling pass, for each kernel family and orders 0 and 1, in 1-D and 2-D. The
ratio is the number to read (the target is at most 3). Then whole fits with
``bandwidth="loo"`` (the search and the state). No peer computes these at these
sizes (statsmodels' ``KernelReg`` builds n × n matrices); the ``select``
section compares the search with statsmodels' ``cv_ls`` at small n.
"""

from __future__ import annotations

import warnings

from harness import SC_BANDWIDTH, best_of, log, make_data, secs, short_error

#: Kernel families of the fit/predict rows: the Gaussian, a compact polynomial, the tricube (its square
#: has degree 18) and the exponential family.
KERNELS = ("gaussian", "epanechnikov", "tricube", "laplace")
#: Fixed-bandwidth rows: (d, size key, bandwidth); data uniform on [0, 5)^d.
FIXED = ((1, "est_n1", SC_BANDWIDTH), (2, "est_n2", SC_BANDWIDTH))
#: Whole fits with bandwidth="loo": (d, kernel, size key).
LOO_FITS = ((1, "gaussian", "est_loo_n1"), (4, "epanechnikov", "est_loo_n4"), (2, "gaussian", "est_loo_n2"))


def _warm(nw, kernel, order, d, n, h):
    """Compile what the timed calls run: a small fit on the engine "auto" takes at the full size."""
    from nadaraya import engines
    from nadaraya.kernels import get_kernel

    method = engines.choose("auto", get_kernel(kernel), (1, n, n, d, 1), {})
    _, x, y = make_data(0, 2000, d, seed=1)
    nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=h, order=order, method=method).fit(x.reshape(-1, d), y)
    return method


def run(sizes, threads, repeats) -> dict:
    import nadaraya as nw

    budget = sizes["budget_s"]
    rows, loo_rows = [], []
    for d, key, h in FIXED:
        n = sizes[key]
        _, x, y = make_data(0, n, d)
        X = x.reshape(n, d)
        for kernel in KERNELS:
            for order in (0, 1):
                row = {"d": d, "n": n, "bandwidth": h, "kernel": kernel, "order": order}
                try:
                    row["engine"] = _warm(nw, kernel, order, d, n, h)
                    model = nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=h, order=order)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", nw.EmptySupportWarning)
                        row["fit_s"], row["fit_runs"], _ = best_of(lambda: model.fit(X, y), repeats, budget)
                        row["predict_s"], row["predict_runs"], _ = best_of(lambda: model.predict(X), repeats, budget)
                    row["ratio"] = row["fit_s"] / row["predict_s"]
                except Exception as exc:
                    row["error"] = short_error(exc)
                log(f"  d={d} n={n} {kernel} order={order}: " + (
                    row.get("error") or f"fit {row['fit_s']:.3g} s, predict {row['predict_s']:.3g} s, "
                                        f"ratio {row['ratio']:.2f} ({row['engine']})"))
                rows.append(row)
    for d, kernel, key in LOO_FITS:
        n = sizes[key]
        _, x, y = make_data(0, n, d)
        X = x.reshape(n, d)
        row = {"d": d, "n": n, "kernel": kernel}
        try:
            _warm(nw, kernel, 0, d, n, 0.5)
            model = nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth="loo")
            calls = []
            row["fit_s"], row["runs"], _ = best_of(lambda: model.fit(X, y, progress=lambda *a: calls.append(1)),
                                                   1, budget)
            row["evaluations"] = len(calls)
            row["bandwidth"] = model.bandwidth_.tolist()
            row["loo_mse"] = model.loo_mse_
            fixed = nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=model.bandwidth_)
            row["state_s"], _, _ = best_of(lambda: fixed.fit(X, y), 1, budget)
            row["predict_s"], _, _ = best_of(lambda: model.predict(X), 1, budget)
        except Exception as exc:
            row["error"] = short_error(exc)
        log(f"  loo fit d={d} n={n} {kernel}: " + (row.get("error") or f"{row['fit_s']:.3g} s"))
        loo_rows.append(row)
    return {"rows": rows, "loo_rows": loo_rows}


def markdown(s: dict, m: dict) -> list[str]:
    """This section's part of the results page (``s``: its results, ``m``: the machine facts)."""
    lines = [
        "## Estimator: fit against predict, and leave-one-out fits",
        "",
        f"Measured {s['measured_at']}. `NadarayaWatsonRegressor(kernel, bandwidth=h, order)`: `fit(X, y)` "
        "(the fitted state: leave-one-out error, fitted values, hat diagonal, locfit's residual variance) "
        "against `predict(X)` on the same training inputs, best of the runs shown; uniform data on [0, 5)^d; "
        "the engine is the one \"auto\" picks. Target: fit / predict ≤ 3.",
        "",
        "| d | n | h | kernel | order | engine | fit (s) | predict (s) | fit / predict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        head = f"| {r['d']} | {r['n']:,} | {r['bandwidth']} | {r['kernel']} | {r['order']} |"
        if r.get("error"):
            lines.append(f"{head} — | error: {r['error']} | | |")
        else:
            lines.append(f"{head} {r['engine']} | {secs(r['fit_s'])} ({r['fit_runs']}) | "
                         f"{secs(r['predict_s'])} ({r['predict_runs']}) | **{r['ratio']:.2f}** |")
    lines += [
        "",
        "`bandwidth=\"loo\"`: the whole fit (search and state), one run; the state alone is a fit at the "
        "chosen bandwidth.",
        "",
        "| d | n | kernel | fit (s) | evaluations | of which the state (s) | predict (s) | bandwidth | LOO MSE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["loo_rows"]:
        head = f"| {r['d']} | {r['n']:,} | {r['kernel']} |"
        if r.get("error"):
            lines.append(f"{head} error: {r['error']} | | | | | |")
        else:
            bw = ", ".join(f"{b:.4g}" for b in r["bandwidth"])
            lines.append(f"{head} {secs(r['fit_s'])} | {r['evaluations']} | {secs(r['state_s'])} | {secs(r['predict_s'])} | {bw} | "
                         f"{r['loo_mse']:.6g} |")
    lines.append("")
    return lines
