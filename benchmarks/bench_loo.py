"""Section 3, leave-one-out: the LOO mean squared residual at a fixed bandwidth, n = 10^5."""

from __future__ import annotations

import numpy as np

from harness import LOO_BANDWIDTH, best_of, log, make_data, secs, short_error, timed


def run(sizes, threads, repeats) -> dict:
    import nadaraya as nw

    n, budget = sizes["loo_n"], sizes["budget_s"]
    rows = []
    for d, methods in ((1, ("sorted", "stream")), (4, ("stream",))):
        h = LOO_BANDWIDTH[d]
        _, k, v = make_data(0, n, d)
        _, kw, vw = make_data(0, 2000, d, seed=1)
        for method in methods:
            row = {"d": d, "n": n, "bandwidth": h, "method": method}

            def loo(kk=k, vv=v, meth=method):
                f = nw.attention_pool(kk, kk, vv, bandwidth=h, exclude_self=True, method=meth, num_threads=threads)
                return float(np.mean((vv - f) ** 2))

            try:
                row["compile_s"], _ = timed(lambda: loo(kw, vw))
                t, runs, value = best_of(loo, repeats, budget)
                row.update({"seconds": t, "runs": runs, "loo_mse": value, "evals_per_s": n * (n - 1) / t})
            except Exception as exc:
                row["error"] = short_error(exc)
            log(f"  d={d} {method}: " + (row.get("error") or f"{row['seconds']:.3g} s, LOO MSE {row['loo_mse']:.6g}"))
            rows.append(row)
    return {"rows": rows}


def markdown(s: dict, m: dict) -> list[str]:
    """This section's part of the results page (``s``: its results, ``m``: the machine facts)."""
    lines = []
    lines += [
        f"## 3. Leave-one-out error at a fixed bandwidth (n = {s['rows'][0]['n']:,}, exclude_self=True)",
        "",
        f"Measured {s['measured_at']}. LOO MSE = mean of (y_i − f_(−i)(x_i))².",
        "",
        "| d | h | method | time (s) | runs | first-call overhead in this process (s) | LOO MSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        if r.get("error"):
            lines.append(f"| {r['d']} | {r['bandwidth']} | {r['method']} | error: {r['error']} |  |  |  |")
        else:
            lines.append(
                f"| {r['d']} | {r['bandwidth']} | {r['method']} | {secs(r['seconds'])} | {r['runs']} "
                f"| {secs(r['compile_s'])} | {r['loo_mse']:.10g} |"
            )
    lines.append("")
    return lines
