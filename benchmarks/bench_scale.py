"""Section 2, 1-D scale: m = n = 10^6 in fresh processes: wall time, compile time, memory, error of the fast path."""

from __future__ import annotations

import importlib

import numpy as np

from harness import (
    SC_BANDWIDTH,
    best_of,
    log,
    make_data,
    maxrss_bytes,
    MiB,
    proc_status,
    reset_peak_rss,
    run_worker,
    secs,
    timed,
)


def worker_scale(spec: dict) -> dict:
    """One 1-D case in a fresh process: compile time, best wall time, memory, error of the fast path."""
    res = {"rss_start_mib": proc_status("VmRSS") / MiB}
    import nadaraya as nw

    for engine in ("stream", "sorted1d"):  # the engines load Numba lazily: count it in the baseline
        try:
            importlib.import_module(f"nadaraya.engines.{engine}")
        except ImportError:
            pass
    res["rss_after_imports_mib"] = proc_status("VmRSS") / MiB
    n, h, kernel, method, threads = spec["n"], spec["h"], spec["kernel"], spec["method"], spec["threads"]
    q, k, v = make_data(n, n, 1)
    nw_ = min(spec["warm"], n)
    qw, kw, vw = make_data(nw_, nw_, 1, seed=1)

    def pool(qq, kk, vv, meth=method):
        return nw.attention_pool(qq, kk, vv, kernel=kernel, bandwidth=h, method=meth, num_threads=threads, on_empty="ignore")

    first, _ = timed(lambda: pool(qw, kw, vw))
    second, _ = timed(lambda: pool(qw, kw, vw))
    res["compile_s"] = max(first - second, 0.0)

    rss0 = proc_status("VmRSS")
    res["rss_before_call_mib"] = rss0 / MiB
    hwm0 = proc_status("VmHWM")  # peak so far: imports, data, warm-up and compilation
    can_reset = reset_peak_rss()
    t, runs, out = best_of(lambda: pool(q, k, v), spec["repeats"], spec["budget"])
    res.update({"seconds": t, "runs": runs})
    hwm1 = proc_status("VmHWM")
    if can_reset:
        res["call_peak_over_before_mib"] = (hwm1 - rss0) / MiB
    # Whole-process peak from VmHWM, the counter ru_maxrss reads for this process's memory map:
    # ru_maxrss itself also carries the parent's peak across fork + exec on Linux.
    res["peak_rss_mib"] = max(hwm0, hwm1) / MiB
    res["ru_maxrss_mib"] = maxrss_bytes() / MiB
    res["nan_fraction"] = float(np.mean(np.isnan(out)))

    if spec.get("check"):
        idx = np.random.default_rng(2).choice(n, size=min(spec["check"], n), replace=False)
        pool(qw[:50], kw, vw, meth="stream")  # compile the stream engine outside the timing
        ts, exact = timed(lambda: pool(q[idx], k, v, meth="stream"))
        res["check_m"] = len(idx)
        res["stream_seconds_check"] = ts
        res["stream_extrapolated_s"] = ts * n / len(idx)
        ok = ~np.isnan(exact) & ~np.isnan(out[idx])
        res["rel_error_vs_stream"] = float(np.max(np.abs(out[idx][ok] - exact[ok])) / np.max(np.abs(v)))
    return res


def run(sizes, threads, repeats) -> dict:
    rows = []
    n = sizes["sc_n"]
    for kernel in ("gaussian", "epanechnikov"):
        for method in ("sorted", "auto"):
            spec = {
                "kind": "scale",
                "kernel": kernel,
                "method": method,
                "n": n,
                "h": SC_BANDWIDTH,
                "threads": threads,
                "repeats": repeats,
                "budget": sizes["budget_s"],
                "warm": sizes["sc_warm"],
                "check": sizes["sc_check"] if method == "sorted" else 0,
            }
            res = run_worker(spec)
            row = {"kernel": kernel, "method": method, "m": n, "n": n, "bandwidth": SC_BANDWIDTH, **res}
            log(f"  {kernel} {method}: " + (res.get("error") or f"{res['seconds']:.3g} s"))
            rows.append(row)
    return {"rows": rows}


def markdown(s: dict, m: dict) -> list[str]:
    """This section's part of the results page (``s``: its results, ``m``: the machine facts)."""
    lines = []
    r0 = s["rows"][0]
    lines += [
        f"## 2. 1-D scale (m = n = {r0['n']:,}, keys uniform on [0, 5), h = {r0['bandwidth']})",
        "",
        f"Measured {s['measured_at']}. Each case in a fresh process; wall time after a warm-up on "
        "small data of the same distribution; the first call's extra time (Numba compilation, or loading "
        "from Numba's on-disk cache) is reported apart.",
        "",
        "| kernel | method | wall time (s) | runs | first-call overhead (s) | RSS after imports (MiB) | peak RSS, whole process (MiB) "
        "| call's peak − RSS before it (MiB) | error vs exact stream (max \\|Δ\\| / max \\|y\\|) | exact stream, extrapolated (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        if r.get("error"):
            lines.append(f"| {r['kernel']} | {r['method']} | error: {r['error']} |  |  |  |  |  |  |  |")
            continue
        err = r.get("rel_error_vs_stream")
        err = "—" if err is None else f"{err:.1e} ({r['check_m']} queries)"
        call = r.get("call_peak_over_before_mib")
        lines.append(
            f"| {r['kernel']} | {r['method']} | {secs(r['seconds'])} | {r['runs']} | {secs(r['compile_s'])} "
            f"| {r['rss_after_imports_mib']:.0f} | {r['peak_rss_mib']:.0f} | {'—' if call is None else f'{call:.0f}'} "
            f"| {err} | {secs(r.get('stream_extrapolated_s'))} |"
        )
    lines += [
        "",
        "- peak RSS, whole process: VmHWM of /proc/self/status, the counter behind `ru_maxrss` (which on "
        "Linux also inherits the launching process's peak); it includes imports, data and Numba compilation.",
        "- call's peak: VmHWM reset through /proc/self/clear_refs just before the timed calls, minus the RSS then "
        "(the inputs, 3 × 8 MB, are already counted in the RSS before).",
        "- exact stream, extrapolated: the stream engine's time on the checked queries × m / checked queries.",
        "",
    ]
    return lines
