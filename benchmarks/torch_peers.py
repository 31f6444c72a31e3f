"""The throughput section's torch peers, each measured in its own subprocess (``run.py --worker``).

The book's tiled code (:func:`book_pool_torch`) and ``scaled_dot_product_attention``
on the augmented form (:func:`sdpa_pool_augmented`). A fresh process per
measurement keeps torch's thread setting and allocator out of the main run.
"""

from __future__ import annotations

from nadaraya._limits import MAX_WEIGHTS_BYTES

from harness import (
    PROBE_M,
    PROBE_SHIFTS,
    TP_BANDWIDTH,
    available_memory,
    best_of,
    GiB,
    make_data,
    maxrss_bytes,
    proc_status,
    reset_peak_rss,
    shifted,
    timed,
)


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


def sdpa_pool_augmented(queries, keys, values, h: float, max_bytes: int = MAX_WEIGHTS_BYTES):
    """Gaussian attention pooling through torch ``scaled_dot_product_attention`` on the augmented form.

    The score −|q − k|²/(2h²) = q·k/h² − |k|²/(2h²) − |q|²/(2h²); the last term
    is constant along a softmax row and drops out, so with queries
    Q' = [q/h, 1] and keys K' = [k/h, −|k/h|²/2] the scores are Q'·K' and
    SDPA with ``scale=1.0`` is the Gaussian pooling. Far from the origin the
    two terms are large and nearly cancel: the form loses accuracy there.
    The queries go in chunks whose m_chunk × n score matrix stays within
    ``max_bytes`` (SDPA's CPU math path may build it).

    queries (m,) or (m, d), keys (n,) or (n, d), values (n,): torch tensors of one dtype -> (m,).
    """
    import torch
    from torch.nn.functional import scaled_dot_product_attention

    if keys.dim() == 1:
        queries, keys = queries[:, None], keys[:, None]
    qa = torch.cat([queries / h, torch.ones_like(queries[:, :1])], dim=1)  # (m, d + 1)
    ks = keys / h
    ka = torch.cat([ks, -0.5 * (ks * ks).sum(dim=1, keepdim=True)], dim=1)  # (n, d + 1)
    ka, va = ka[None, None], values.reshape(1, 1, -1, 1)  # (1, 1, n, d + 1), (1, 1, n, 1)
    rows = max(1, max_bytes // (len(keys) * values.element_size()))
    out = [
        scaled_dot_product_attention(qa[None, None, i : i + rows], ka, va, scale=1.0)  # (1, 1, rows, 1)
        for i in range(0, len(qa), rows)
    ]
    return torch.cat(out, dim=2).reshape(-1)


def worker_sdpa(spec: dict) -> dict:
    """Time :func:`sdpa_pool_augmented` on all queries; also its outputs for the far-from-origin probe.

    ``spec``: d, dtype, n (m = n), threads, repeats, budget, and optionally
    max_bytes (the chunks' score-matrix limit, default 256 MiB).
    """
    import torch

    torch.set_num_threads(spec["threads"])
    n, d, max_bytes = spec["n"], spec["d"], spec.get("max_bytes", MAX_WEIGHTS_BYTES)
    q, k, v = make_data(n, n, d, spec["dtype"])
    vt = torch.from_numpy(v)

    def pool(qq, kk):
        return sdpa_pool_augmented(torch.from_numpy(qq), torch.from_numpy(kk), vt, TP_BANDWIDTH, max_bytes)

    compile_s, _ = timed(lambda: pool(q[:100], k))  # warm-up: thread pool, allocator
    t, runs, out = best_of(lambda: pool(q, k), spec["repeats"], spec["budget"])
    probe = {str(shift): pool(shifted(q[:PROBE_M], shift), shifted(k, shift)).tolist() for shift in PROBE_SHIFTS}
    res = {"seconds": t, "runs": runs, "evals_per_s": n * n / t, "warmup_s": compile_s}
    return {**res, "out": out.tolist(), "probe": probe}
