"""Section 4, bandwidth selection: leave-one-out search beside statsmodels' cv_ls, and alone at n = 10^5."""

from __future__ import annotations

import numpy as np

from harness import best_of, fmt_ratio, log, make_data, secs, short_error, timed


def run(sizes, threads, repeats) -> dict:
    """Leave-one-out bandwidth selection: nadaraya beside statsmodels' cv_ls at small n, alone at large n."""
    import warnings

    from nadaraya import bandwidth as bw

    rows = []
    n = sizes["sel_small_n"]
    for d in (1, 4):
        _, x, y = make_data(0, n, d)
        row = {"d": d, "n": n}
        timed(lambda: bw.search_bandwidth(x, y))  # warm-up: compiles the engines
        t, _, res = best_of(lambda: bw.search_bandwidth(x, y), repeats, sizes["budget_s"])
        row["nadaraya"] = {"seconds": t, "bandwidth": res.bandwidth.tolist(), "loo_mse": res.objective, "evaluations": res.evaluations}
        try:
            from statsmodels.nonparametric.kernel_regression import KernelReg

            def sm_fit():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return KernelReg(y, x, var_type="c" * d, reg_type="lc", bw="cv_ls").bw

            t_sm, h_sm = timed(sm_fit)
            row["statsmodels"] = {"seconds": t_sm, "bandwidth": np.atleast_1d(h_sm).tolist(),
                                  "loo_mse": bw.loo_objective(x, y, np.atleast_1d(h_sm))}
            row["speedup"] = t_sm / t
        except Exception as exc:
            row["statsmodels"] = {"error": short_error(exc)}
        log(f"  n={n} d={d}: nadaraya {t:.3g} s, statsmodels {row['statsmodels'].get('seconds', float('nan')):.3g} s")
        rows.append(row)
    n = sizes["sel_big_n"]
    for d in (1, 4):
        _, x, y = make_data(0, n, d)
        row = {"d": d, "n": n}
        try:
            t, res = timed(lambda: bw.search_bandwidth(x, y))
            row["nadaraya"] = {"seconds": t, "bandwidth": res.bandwidth.tolist(), "loo_mse": res.objective,
                               "evaluations": res.evaluations}
        except Exception as exc:
            row["nadaraya"] = {"error": short_error(exc)}
        log(f"  n={n} d={d}: nadaraya {row['nadaraya'].get('seconds', float('nan')):.3g} s")
        rows.append(row)
    return {"rows": rows}


def markdown(s: dict, m: dict) -> list[str]:
    """This section's part of the results page (``s``: its results, ``m``: the machine facts)."""
    lines = []
    lines += [
        "## 4. Leave-one-out bandwidth selection (Gaussian, order 0)",
        "",
        f"Measured {s['measured_at']}. nadaraya: `bandwidth.search_bandwidth` (24-point log grid, Brent, then "
        "L-BFGS-B per feature with analytic gradients when d > 1). statsmodels: `KernelReg(bw='cv_ls')`. "
        "Both chosen bandwidths are scored with the same leave-one-out MSE.",
        "",
        "| n | d | nadaraya (s) | evaluations | LOO MSE | statsmodels cv_ls (s) | LOO MSE | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        a, b = r["nadaraya"], r.get("statsmodels", {})
        cell_a = f"error: {a['error']}" if a.get("error") else f"{secs(a['seconds'])} | {a['evaluations']} | {a['loo_mse']:.6g}"
        if not b:
            cell_b = "— | —"
        elif b.get("error"):
            cell_b = f"error: {b['error']} | —"
        else:
            cell_b = f"{secs(b['seconds'])} | {b['loo_mse']:.6g}"
        lines.append(f"| {r['n']:,} | {r['d']} | {cell_a} | {cell_b} | {fmt_ratio(r.get('speedup'))} |")
    lines.append("")
    return lines
