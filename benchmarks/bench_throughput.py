"""Section 1, throughput: dense Gaussian kernel evaluations per second beside the ceiling and the peers."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import traceback
import warnings

import numpy as np

from harness import (
    PROBE_M,
    PROBE_SHIFTS,
    TP_BANDWIDTH,
    best_of,
    fmt_cell,
    fmt_ratio,
    log,
    make_data,
    rel_diff,
    run_worker,
    shifted,
    short_error,
    timed,
)


def exp_ceiling(dtype: str, threads: int, size: int = 4096, inner: int = 2000, repeats: int = 5) -> float:
    """Evaluations per second of ``numpy.exp`` on an in-cache array, times ``threads``."""
    rng = np.random.default_rng(1)
    a = -rng.uniform(0.0, 10.0, size).astype(dtype)  # scores are non-positive after the max shift
    b = np.empty_like(a)

    def loop():
        for _ in range(inner):
            np.exp(a, out=b)

    loop()
    best, _, _ = best_of(loop, repeats, math.inf)
    return size * inner / best * threads


def bench_stream(q, k, v, threads, repeats, budget):
    import nadaraya as nw

    def call(qq=q, kk=k, vv=v):
        return nw.attention_pool(qq, kk, vv, bandwidth=TP_BANDWIDTH, method="stream", num_threads=threads)

    small = min(len(k), 500)
    compile_s, _ = timed(lambda: call(q[:small], k[:small], v[:small]))
    t, runs, out = best_of(call, repeats, budget)
    return {"seconds": t, "runs": runs, "evals_per_s": len(q) * len(k) / t, "compile_s": compile_s}, out


def bench_dense(q, k, v, m, repeats, budget):
    import nadaraya as nw

    qs = q[:m]
    nw.attention_pool(qs[:10], k, v, bandwidth=TP_BANDWIDTH, method="dense")
    t, runs, out = best_of(lambda: nw.attention_pool(qs, k, v, bandwidth=TP_BANDWIDTH, method="dense"), repeats, budget)
    return {"m": len(qs), "seconds": t, "runs": runs, "evals_per_s": len(qs) * len(k) / t}, out


def bench_statsmodels(q, k, v, m, repeats, budget):
    from statsmodels.nonparametric.kernel_regression import KernelReg

    d = 1 if k.ndim == 1 else k.shape[1]
    k64, v64, q64 = (np.asarray(a, dtype=np.float64) for a in (k, v, q[:m]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = KernelReg(endog=[v64], exog=[k64], var_type="c" * d, reg_type="lc", bw=[TP_BANDWIDTH] * d)
        reg.fit(q64[:5])
        t, runs, (mean, _) = best_of(lambda: reg.fit(q64), repeats, budget)
    return {"m": len(q64), "seconds": t, "runs": runs, "evals_per_s": len(q64) * len(k) / t}, mean


def bench_pykeops(q, k, v, threads, repeats, budget):
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    with contextlib.redirect_stdout(sys.stderr):  # its import prints a CUDA warning on stdout
        import pykeops

    pykeops.set_verbose(False)
    from pykeops.numpy import LazyTensor

    def pool(qq, kk, vv):
        # The softmax-weighted sum, one symbolic m x n reduction; inputs scaled by 1/h like nadaraya's.
        qs = LazyTensor(np.ascontiguousarray((qq / TP_BANDWIDTH).reshape(len(qq), 1, -1)))
        ks = LazyTensor(np.ascontiguousarray((kk / TP_BANDWIDTH).reshape(1, len(kk), -1)))
        vs = LazyTensor(np.ascontiguousarray(vv.reshape(1, len(vv), 1)))
        return (-0.5 * ((qs - ks) ** 2).sum(-1)).sumsoftmaxweight(vs, axis=1)[:, 0]

    compile_s, _ = timed(lambda: pool(q[:100], k[:100], v[:100]))
    t, runs, out = best_of(lambda: pool(q, k, v), repeats, budget)
    return {"seconds": t, "runs": runs, "evals_per_s": len(q) * len(k) / t, "compile_s": compile_s}, out


def bench_sdpa(d, dtype, n, threads, repeats, budget) -> dict:
    """torch ``scaled_dot_product_attention`` on the augmented form, in a subprocess (``torch_peers.worker_sdpa``).

    Its result holds the outputs (``"out"``, all m = n queries) and the
    far-from-origin probe's outputs (``"probe"``) beside the timing.
    """
    spec = {"kind": "sdpa", "d": d, "dtype": dtype, "n": n, "threads": threads, "repeats": repeats}
    return run_worker({**spec, "budget": budget})


def far_probe(q, k, v, threads, sdpa_probe) -> dict:
    """Error (max |Δ| / max|values|) of SDPA and of the stream engine against the float64 dense reference.

    On :data:`PROBE_M` queries against all keys, at the origin and with queries
    and keys shifted as :data:`PROBE_SHIFTS` says; ``sdpa_probe`` holds SDPA's
    outputs on the same inputs (shift -> list), as :func:`bench_sdpa` returns them.
    """
    import nadaraya as nw

    scale = float(np.max(np.abs(v)))
    res = {"m": PROBE_M, "shifts": [], "sdpa": [], "stream": []}
    for shift in PROBE_SHIFTS:
        qs, ks = shifted(q[:PROBE_M], shift), shifted(k, shift)
        as64 = (a.astype(np.float64) for a in (qs, ks, v))
        ref = nw.attention_pool(*as64, bandwidth=TP_BANDWIDTH, method="dense")
        stream = nw.attention_pool(qs, ks, v, bandwidth=TP_BANDWIDTH, method="stream", num_threads=threads)
        sdpa = (sdpa_probe or {}).get(str(shift))
        res["shifts"].append(shift)
        res["stream"].append(rel_diff(stream, ref, scale))
        res["sdpa"].append(None if sdpa is None else rel_diff(sdpa, ref, scale))
    return res


def vs_stream(res: dict, key: str, ref, scale: float) -> None:
    """Move a worker's outputs ``res[key]`` out of its result and record their difference from the stream engine's."""
    out = res.pop(key, None)
    if ref is not None and out is not None:
        res["max_diff_vs_stream"] = rel_diff(out, ref[: len(out)], scale)


def run(sizes, threads, repeats) -> dict:
    n, budget = sizes["tp_n"], sizes["budget_s"]
    rows, ceilings = [], {}
    for dtype in ("float64", "float32"):
        ceilings[dtype] = exp_ceiling(dtype, threads)
        log(f"  ceiling numpy.exp {dtype} x {threads}: {ceilings[dtype]:.3g}/s")
    for d in (1, 8):
        for dtype in ("float64", "float32"):
            q, k, v = make_data(n, n, d, dtype)
            scale = float(np.max(np.abs(v)))
            row = {"d": d, "dtype": dtype, "m": n, "n": n, "bandwidth": TP_BANDWIDTH, "threads": threads, "ceiling": {"evals_per_s": ceilings[dtype]}}
            ref = None
            cases = [
                ("stream", lambda: bench_stream(q, k, v, threads, repeats, budget)),
                ("dense", lambda: bench_dense(q, k, v, sizes["tp_dense_m"], repeats, budget)),
                ("pykeops", lambda: bench_pykeops(q, k, v, threads, repeats, budget)),
                ("statsmodels", lambda: bench_statsmodels(q, k, v, sizes["tp_statsmodels_m"], repeats, budget)),
            ]
            for name, fn in cases:
                try:
                    res, out = fn()
                    if name == "stream":
                        ref = out
                    elif ref is not None:
                        res["max_diff_vs_stream"] = rel_diff(out, ref[: len(out)], scale)
                    elif name != "stream":
                        # stream failed: compare against the dense reference instead, on its subsample
                        import nadaraya as nw

                        res["max_diff_vs_dense"] = rel_diff(
                            out, nw.attention_pool(q[: len(out)], k, v, bandwidth=TP_BANDWIDTH, method="dense"), scale
                        )
                except Exception as exc:  # a peer that cannot build or run here: record why
                    res = {"error": short_error(exc)}
                    if os.environ.get("NADARAYA_BENCH_DEBUG"):
                        traceback.print_exc()
                row[name] = res
                log(f"  d={d} {dtype} {name}: " + fmt_cell(res))
            row["torch_book"] = run_worker(
                {
                    "kind": "torch_book",
                    "d": d,
                    "dtype": dtype,
                    "n": n,
                    "calib_m": max(25, sizes["tp_torch_calib_m"] // d),
                    "threads": threads,
                    "repeats": repeats,
                    "budget": budget,
                }
            )
            vs_stream(row["torch_book"], "head", ref, scale)
            log(f"  d={d} {dtype} torch_book: " + fmt_cell(row["torch_book"]))
            row["sdpa"] = bench_sdpa(d, dtype, n, threads, repeats, budget)
            sdpa_probe = row["sdpa"].pop("probe", None)
            vs_stream(row["sdpa"], "out", ref, scale)
            log(f"  d={d} {dtype} sdpa: " + fmt_cell(row["sdpa"]))
            try:
                row["far"] = far_probe(q, k, v, threads, sdpa_probe)
            except Exception as exc:
                row["far"] = {"error": short_error(exc)}
            log(f"  d={d} {dtype} far-from-origin probe: {row['far']}")
            s = row["stream"].get("evals_per_s")
            if s:
                row["stream_over_ceiling"] = s / ceilings[dtype]
                for peer in ("pykeops", "sdpa"):
                    if row[peer].get("evals_per_s"):
                        row[f"stream_over_{peer}"] = s / row[peer]["evals_per_s"]
            rows.append(row)
    return {"rows": rows}


def fmt_err(x) -> str:
    return "—" if x is None else f"{x:.1e}"


def far_markdown(rows) -> list[str]:
    """The far-from-origin probe's table (rows measured before the probe existed are left out)."""
    rows = [r for r in rows if r.get("far", {}).get("shifts")]
    if not rows:
        return []
    far, m = rows[0]["far"], rows[0]["far"]["m"]
    lines = [
        "",
        f"Accuracy at and far from the origin: max |Δ| / max|values| against nadaraya's dense reference "
        f"in float64 on the same (rounded) inputs, {m} queries against all keys; "
        f"far = queries and keys shifted by {far['shifts'][1] / rows[0]['bandwidth']:g} bandwidths:",
        "",
        "| d | dtype | torch SDPA, augmented | torch SDPA, far | nadaraya stream | nadaraya stream, far |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        f = r["far"]
        cells = [fmt_err(x) for x in (*f["sdpa"], *f["stream"])]
        lines.append(f"| {r['d']} | {r['dtype']} | " + " | ".join(cells) + " |")
    return lines


def markdown(s: dict, m: dict) -> list[str]:
    """This section's part of the results page (``s``: its results, ``m``: the machine facts)."""
    lines = []
    r0 = s["rows"][0]
    t = r0["threads"] if "threads" in r0 else m["threads_used"]
    sm = next((r["statsmodels"].get("m") for r in s["rows"] if r["statsmodels"].get("m")), "?")
    dm = next((r["dense"].get("m") for r in s["rows"] if r["dense"].get("m")), "?")
    lines += [
        f"## 1. Dense Gaussian throughput (kernel evaluations per second, m = n = {r0['n']:,}, h = {r0['bandwidth']})",
        "",
        f"Measured {s['measured_at']}. Evaluations/s = m·n / best wall time; every column ran on the same inputs.",
        "",
        f"| d | dtype | nadaraya stream ({t} threads) | ceiling: numpy.exp × {t} | stream / ceiling "
        f"| pykeops CPU | stream / pykeops | statsmodels KernelReg (m={sm}) | book's tiled torch "
        f"| torch SDPA, augmented | stream / SDPA | nadaraya dense (m={dm}) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        lines.append(
            f"| {r['d']} | {r['dtype']} | {fmt_cell(r['stream'])} | {fmt_cell(r['ceiling'])} "
            f"| {fmt_ratio(r.get('stream_over_ceiling'))} | {fmt_cell(r['pykeops'])} | {fmt_ratio(r.get('stream_over_pykeops'))} "
            f"| {fmt_cell(r['statsmodels'])} | {fmt_cell(r['torch_book'])} | {fmt_cell(r.get('sdpa'))} "
            f"| {fmt_ratio(r.get('stream_over_sdpa'))} | {fmt_cell(r['dense'])} |"
        )
    lines += ["", "Agreement with the stream engine (max |Δ| / max|values| on the queries each peer ran):", ""]
    lines += ["| d | dtype | pykeops | statsmodels | book's torch | torch SDPA | nadaraya dense |", "|---" * 7 + "|"]
    for r in s["rows"]:
        cells = []
        for name in ("pykeops", "statsmodels", "torch_book", "sdpa", "dense"):
            x = r.get(name, {}).get("max_diff_vs_stream", r.get(name, {}).get("max_diff_vs_dense"))
            cells.append(fmt_err(x))
        lines.append(f"| {r['d']} | {r['dtype']} | " + " | ".join(cells) + " |")
    lines += far_markdown(s["rows"])
    lines += [
        "",
        "- ceiling: `numpy.exp` on a 4096-element array (in cache) repeated, single-threaded, times the threads "
        "used: the cost of the exponential alone, with no distance, max or sum.",
        "- statsmodels `KernelReg(reg_type='lc', var_type='c'*d, bw=[h]*d).fit(queries)` on a subsample of "
        "queries against all keys (it loops over queries in Python and also computes marginal effects); "
        "it always computes in float64.",
        "- pykeops: `LazyTensor` `sumsoftmaxweight` of −|q − k|²/2 on inputs pre-scaled by 1/h, CPU backend; "
        "its compile time is excluded (warm-up).",
        "- book's tiled torch: the chapter's `repeat_interleave` queries, `X_tile`/`Y_tile` keys and values, "
        "`softmax` and `bmm` (torch CPU), run in a subprocess where its measured bytes per query-key pair × m·n "
        "fit in 80 % of free memory; otherwise the cell gives the memory it would need and its speed on a "
        "subsample of queries.",
        "- torch SDPA, augmented: `scaled_dot_product_attention(Q', K', v, scale=1.0)` with Q' = [q/h, 1] and "
        "K' = [k/h, −|k/h|²/2] (the score −|q − k|²/2h² less its per-query constant), in the row's dtype, "
        "(1, 1, m, d + 1) tensors, queries in chunks whose score matrix stays within 256 MiB, in a subprocess "
        "with torch's threads set to the same count.",
        "",
    ]
    return lines
