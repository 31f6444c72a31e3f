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
    TP_BANDWIDTH,
    available_memory,
    best_of,
    fmt_cell,
    fmt_ratio,
    GiB,
    log,
    make_data,
    maxrss_bytes,
    proc_status,
    rel_diff,
    reset_peak_rss,
    run_worker,
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
            tb = row["torch_book"]
            head = tb.pop("head", None)
            if ref is not None and head is not None:
                tb["max_diff_vs_stream"] = rel_diff(head, ref[: len(head)], scale)
            log(f"  d={d} {dtype} torch_book: " + fmt_cell(tb))
            s = row["stream"].get("evals_per_s")
            if s:
                row["stream_over_ceiling"] = s / ceilings[dtype]
                if row["pykeops"].get("evals_per_s"):
                    row["stream_over_pykeops"] = s / row["pykeops"]["evals_per_s"]
            rows.append(row)
    return {"rows": rows}


def book_pool_torch(x_train, y_train, x_test, w):
    """The chapter's tiled form: repeat the queries, tile the keys and values, softmax, bmm.

    For 1-D inputs this is the book's code line for line (``NWKernelRegression.forward``
    with ``X_tile``/``Y_tile`` as keys and values); for d > 1 the same
    construction with a trailing feature axis.
    """
    import torch
    from torch import nn

    n_train, n_test = x_train.shape[0], x_test.shape[0]
    if x_train.dim() == 1:
        X_tile = x_train.repeat((n_test, 1))  # keys: (n_test, n_train)
        Y_tile = y_train.repeat((n_test, 1))  # values: (n_test, n_train)
        queries = x_test.repeat_interleave(n_train).reshape((-1, n_train))  # (n_test, n_train)
        attention_weights = nn.functional.softmax(-(((queries - X_tile) * w) ** 2) / 2, dim=1)
    else:
        d = x_train.shape[1]
        X_tile = x_train.repeat((n_test, 1, 1))  # (n_test, n_train, d)
        Y_tile = y_train.repeat((n_test, 1))
        queries = x_test.repeat_interleave(n_train, dim=0).reshape((n_test, n_train, d))
        attention_weights = nn.functional.softmax(-(((queries - X_tile) * w) ** 2).sum(-1) / 2, dim=1)
    return torch.bmm(attention_weights.unsqueeze(1), Y_tile.unsqueeze(-1)).reshape(-1)


def worker_torch_book(spec: dict) -> dict:
    """Measure the book's code where it fits in memory; otherwise say how much it would need."""
    import torch

    torch.set_num_threads(spec["threads"])
    n, d, w = spec["n"], spec["d"], 1.0 / TP_BANDWIDTH
    q, k, v = (torch.from_numpy(a) for a in make_data(n, n, d, spec["dtype"]))
    book_pool_torch(k[:10], v[:10], q[:10], w)  # warm-up: thread pool, allocator

    # Bytes per query-key pair at a small size, from the peak RSS of one call.
    mc = min(spec["calib_m"], n)
    qc = q[:mc]
    rss0 = proc_status("VmRSS")
    can_reset = reset_peak_rss()
    tc, runs_c, _ = best_of(lambda: book_pool_torch(k, v, qc, w), spec["repeats"], spec["budget"])
    peak = proc_status("VmHWM") if can_reset else maxrss_bytes()
    bytes_per_pair = max(peak - rss0, 0) / (mc * n)
    need = bytes_per_pair * n * n
    avail = available_memory()
    res = {
        "bytes_per_pair": bytes_per_pair,
        "needs_gib": need / GiB,
        "available_gib": avail / GiB,
        "calib": {"m": mc, "seconds": tc, "runs": runs_c, "evals_per_s": mc * n / tc},
    }
    if need > 0.8 * avail:
        res["does_not_fit"] = True
        return res
    t, runs, out = best_of(lambda: book_pool_torch(k, v, q, w), spec["repeats"], spec["budget"])
    res.update({"m": n, "seconds": t, "runs": runs, "evals_per_s": n * n / t, "head": out[:200].tolist()})
    return res


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
        f"| pykeops CPU | stream / pykeops | statsmodels KernelReg (m={sm}) | book's tiled torch | nadaraya dense (m={dm}) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        lines.append(
            f"| {r['d']} | {r['dtype']} | {fmt_cell(r['stream'])} | {fmt_cell(r['ceiling'])} "
            f"| {fmt_ratio(r.get('stream_over_ceiling'))} | {fmt_cell(r['pykeops'])} | {fmt_ratio(r.get('stream_over_pykeops'))} "
            f"| {fmt_cell(r['statsmodels'])} | {fmt_cell(r['torch_book'])} | {fmt_cell(r['dense'])} |"
        )
    lines += ["", "Agreement with the stream engine (max |Δ| / max|values| on the queries each peer ran):", ""]
    lines += ["| d | dtype | pykeops | statsmodels | book's torch | nadaraya dense |", "|---|---|---|---|---|---|"]
    for r in s["rows"]:
        cells = []
        for name in ("pykeops", "statsmodels", "torch_book", "dense"):
            x = r[name].get("max_diff_vs_stream", r[name].get("max_diff_vs_dense"))
            cells.append("—" if x is None else f"{x:.1e}")
        lines.append(f"| {r['d']} | {r['dtype']} | " + " | ".join(cells) + " |")
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
        "",
    ]
    return lines
