#!/usr/bin/env python
"""The estimator's multi-dimensional bandwidth search beside statsmodels' cv_ls, at n = 1,000 in 3-D and 4-D.

Data: X uniform on [0, 1]^d, y = sin(2 pi x0) + 0.5 x1 + N(0, 0.3^2), seed 0:
x0 matters, x1 is linear, the other features are noise (leave-one-out
cross-validation smooths them out: h = inf). For d in (3, 4) and order in
(0, 1):

* nadaraya: ``NadarayaWatsonRegressor(order=order).fit(X, y)`` (the default
  ``bandwidth="loo"``: the global search), best of ``repeats`` after a
  warm-up; the criterion evaluations of the search (its ``progress``
  callback); the same fit with the chosen bandwidths given (no search: the
  fitted state's share of the fit); the chosen bandwidths and ``loo_mse_``;
* statsmodels: ``KernelReg(y, X, "c" * d, reg_type="lc" | "ll",
  bw="cv_ls")``, timed once (its leave-one-out loop is in Python: about a
  second per evaluation at this n), its evaluations (calls of ``cv_loo``),
  its bandwidths and their leave-one-out MSE, scored by nadaraya's fit with
  those bandwidths and by statsmodels' own ``cv_loo``.

Each measurement runs in a fresh subprocess (``--worker``). Run alone,
``python benchmarks/bench_search.py [--before COMMIT] [--no-statsmodels]``
also measures the search of ``COMMIT``'s source tree (``git archive``) in the
same run; in ``benchmarks/run.py`` it is the ``search`` section (this tree
and statsmodels).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import measure_trees

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = ((3, 0), (3, 1), (4, 0), (4, 1))


def data(n: int, d: int, seed: int = 0):
    """X (n, d) uniform on [0, 1]^d; y = sin(2 pi x0) + 0.5 x1 + N(0, 0.3^2)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, (n, d))
    return X, np.sin(2 * np.pi * X[:, 0]) + 0.5 * X[:, 1] + rng.normal(0.0, 0.3, n)


# ------------------------------------------------------------------ worker side (a subprocess per case)


def _nadaraya(spec: dict) -> dict:
    import numpy as np

    from nadaraya import NadarayaWatsonRegressor as NWR

    X, y = data(spec["n"], spec["d"])
    order = spec["order"]
    NWR(order=order, bandwidth=[0.1] * (X.shape[1] - 1) + [np.inf]).fit(X, y)  # warm-up: compile / load engines
    NWR(order=order, bandwidth=[0.1] * X.shape[1]).fit(X, y)
    times, evaluations, model = [], 0, None
    for _ in range(spec["repeats"]):
        calls = []
        t0 = time.perf_counter()
        model = NWR(order=order).fit(X, y, progress=lambda *a: calls.append(a[0]))
        times.append(time.perf_counter() - t0)
        evaluations = len(calls)
        if sum(times) > spec["budget_s"]:
            break
    given = []
    for _ in range(3):
        t0 = time.perf_counter()
        NWR(order=order, bandwidth=model.bandwidth_).fit(X, y)
        given.append(time.perf_counter() - t0)
    return {"seconds": times, "evaluations": evaluations, "fit_given_s": sorted(given)[1],
            "bandwidth": [float(v) for v in model.bandwidth_], "loo_mse": float(model.loo_mse_)}


def _statsmodels(spec: dict) -> dict:
    import warnings

    import numpy as np
    from statsmodels.nonparametric.kernel_regression import KernelReg

    from nadaraya import NadarayaWatsonRegressor as NWR

    X, y = data(spec["n"], spec["d"])
    reg = "ll" if spec["order"] else "lc"
    calls = [0]
    cv_loo = KernelReg.cv_loo

    def counted(self, *args):
        calls[0] += 1
        return cv_loo(self, *args)

    KernelReg.cv_loo = counted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        kr = KernelReg(y, X, "c" * X.shape[1], reg_type=reg, bw="cv_ls")
        seconds = time.perf_counter() - t0
        evaluations = calls[0]
        own = float(np.ravel(cv_loo(kr, kr.bw, kr.est[reg]))[0])
    bw = np.abs(np.atleast_1d(kr.bw).astype(float))  # its fmin works on h itself; the kernel is even
    return {"seconds": seconds, "evaluations": evaluations, "bandwidth": bw.tolist(),
            "loo_mse": float(NWR(order=spec["order"], bandwidth=bw).fit(X, y).loo_mse_), "loo_mse_own": own}


def _worker(spec: dict) -> dict:
    return _statsmodels(spec) if spec["peer"] == "statsmodels" else _nadaraya(spec)


# ------------------------------------------------------------------ driver side


def _case(src: Path, spec: dict, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    load = os.getloadavg()[0]
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "load_average_1min": load}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker failed (exit {proc.returncode}): {tail[:200]}", "load_average_1min": load}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]), load_average_1min=load)


def measure(trees: dict, n: int = 1000, repeats: int = 3, budget_s: float = 20.0, statsmodels: bool = True,
            timeout: float = 3600.0, cases=CASES) -> dict:
    """Every case with every tree (label -> src folder), then statsmodels (with this tree's nadaraya)."""
    rows = []
    for d, order in cases:
        row = {"d": d, "order": order, "trees": {}}
        for label, src in trees.items():
            spec = {"peer": "nadaraya", "n": n, "d": d, "order": order, "repeats": repeats, "budget_s": budget_s}
            res = _case(src, spec, timeout)
            row["trees"][label] = res
            print(f"  d={d} order={order} {label}: {_brief(res)}", file=sys.stderr, flush=True)
        if statsmodels:
            res = _case(ROOT / "src", {"peer": "statsmodels", "n": n, "d": d, "order": order}, timeout)
            row["statsmodels"] = res
            print(f"  d={d} order={order} statsmodels: {_brief(res)}", file=sys.stderr, flush=True)
        rows.append(row)
    return {"n": n, "repeats": repeats, "rows": rows}


def _brief(r: dict) -> str:
    if r.get("error"):
        return r["error"]
    t = min(r["seconds"]) if isinstance(r["seconds"], list) else r["seconds"]
    return f"{t:.3f} s, {r['evaluations']} evaluations, LOO MSE {r['loo_mse']:.10g}"


def run(sizes, threads, repeats) -> dict:
    """The ``search`` section of ``benchmarks/run.py``: this tree beside statsmodels."""
    return measure({"nadaraya": ROOT / "src"}, n=sizes["search_n"], repeats=repeats, budget_s=sizes["budget_s"],
                   timeout=sizes["search_timeout_s"])


def markdown(s: dict, m: dict | None = None) -> list[str]:
    """The results table: one line per case and tree, statsmodels last, ratios statsmodels / tree."""
    lines = [
        f"## Multi-dimensional leave-one-out search (n = {s['n']:,}, Gaussian)",
        "",
        "X uniform on [0, 1]^d, y = sin(2π x0) + 0.5 x1 + N(0, 0.3²): the features after x1 are noise. "
        "nadaraya: `NadarayaWatsonRegressor(order=k).fit` (the global search), best of "
        f"{s['repeats']} after a warm-up; *state*: the same fit with the chosen bandwidths given (no search). "
        "statsmodels: `KernelReg(reg_type='lc' | 'll', bw='cv_ls')`, once. Both LOO MSEs are nadaraya's "
        "`loo_mse_` at the chosen bandwidths (statsmodels' own `cv_loo` in brackets); "
        "ratio = statsmodels' time / nadaraya's.",
        "",
        "| d | order | search | load | fit (s) | state (s) | evaluations | bandwidths | LOO MSE | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        sm = r.get("statsmodels", {})
        for label, t in list(r["trees"].items()) + ([("statsmodels cv_ls", sm)] if sm else []):
            head = f"| {r['d']} | {r['order']} | {label} | {t.get('load_average_1min', float('nan')):.1f} "
            if t.get("error"):
                lines.append(head + f"| error: {t['error']} |  |  |  |  |  |")
                continue
            sec = min(t["seconds"]) if isinstance(t["seconds"], list) else t["seconds"]
            state = f"{t['fit_given_s']:.3f}" if "fit_given_s" in t else "—"
            bws = ", ".join("inf" if v == float("inf") else f"{v:.4g}" for v in t["bandwidth"])
            mse = f"{t['loo_mse']:.10g}" + (f" ({t['loo_mse_own']:.10g})" if "loo_mse_own" in t else "")
            ratio = "—"
            if sm and not sm.get("error") and "fit_given_s" in t:
                ratio = f"{sm['seconds'] / sec:.1f}"
            lines.append(head + f"| {sec:.3f} | {state} | {t['evaluations']} | {bws} | {mse} | {ratio} |")
    lines.append("")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", metavar="COMMIT", help="also measure this commit's src tree (git archive)")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-statsmodels", action="store_true", help="leave statsmodels out (it takes minutes)")
    p.add_argument("--case", action="append", metavar="D:ORDER", help="only these cases (default all four)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per measurement (default 3600)")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))), flush=True)
        return 0
    cases = [tuple(int(v) for v in c.split(":")) for c in args.case] if args.case else CASES
    return measure_trees(args.before, measure, markdown, args.json, n=args.n, repeats=args.repeats,
                         statsmodels=not args.no_statsmodels, timeout=args.timeout, cases=cases)

if __name__ == "__main__":
    sys.exit(main())
