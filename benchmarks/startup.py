"""Start-up: cold subprocess times of `import nadaraya` and `nadaraya fit` beside the import floor and statsmodels.

Every case is a fresh interpreter (``sys.executable``) in a temporary folder
holding a 1,000-row CSV file (x uniform on [0, 5), y = 2 sin x + x^0.8 +
N(0, 0.5²)):

- **floor**: ``python -c "import numpy, scipy.optimize, numba"``, what any
  Numba-based kernel-regression command has to load;
- **import nadaraya**: ``python -c "import nadaraya"``;
- **nadaraya fit**: ``python -m nadaraya fit data.csv --x x --y y --bandwidth loo
  --model m.npz`` (the ``nadaraya`` console script runs the same code; the fit
  plot m.svg is written too, as by default, without matplotlib);
- **nadaraya fit --plot m.png**: the same with the plot drawn by matplotlib;
- **nadaraya fit --no-plot**: the same without any plot;
- **statsmodels**: a script reading the CSV with NumPy and fitting
  ``KernelReg(y, x, "c", reg_type="lc", bw="cv_ls")``, saving its bandwidth.

Each case runs once first (Numba's on-disk cache is filled, files are in the
page cache), then the cases take turns, ``--repeats`` rounds, so that a
change in the machine's load hits them alike; the best time of each is
reported with its ratio to the floor's best. The load average before and
after the run is recorded: on a busy machine ratios are noisy.

Run alone (``python benchmarks/startup.py [--repeats 5] [--rows 1000] [--json PATH]``)
or as the ``startup`` section of ``benchmarks/run.py`` (``run`` / ``markdown``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STATSMODELS_SCRIPT = """\
import numpy as np
from statsmodels.nonparametric.kernel_regression import KernelReg
data = np.loadtxt("data.csv", delimiter=",", skiprows=1)
model = KernelReg(data[:, 1], data[:, 0], var_type="c", reg_type="lc", bw="cv_ls")
np.save("statsmodels_bw.npy", model.bw)
"""


FIT = ["-m", "nadaraya", "fit", "data.csv", "--x", "x", "--y", "y", "--bandwidth", "loo", "--model", "m.npz"]


def cases(rows: int) -> dict:
    """Case name -> argv after the interpreter (run in the folder holding data.csv)."""
    return {
        "floor": ["-c", "import numpy, scipy.optimize, numba"],
        "import nadaraya": ["-c", "import nadaraya"],
        f"nadaraya fit (n = {rows}, loo)": FIT,
        f"nadaraya fit --plot m.png (n = {rows}, loo; matplotlib)": FIT + ["--plot", "m.png"],
        f"nadaraya fit --no-plot (n = {rows}, loo)": FIT + ["--no-plot"],
        f"statsmodels KernelReg cv_ls (n = {rows})": ["statsmodels_fit.py"],
    }


def write_inputs(folder: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 5.0, rows)
    y = 2 * np.sin(x) + x**0.8 + rng.normal(0.0, 0.5, rows)
    with open(folder / "data.csv", "w") as fh:
        fh.write("x,y\n")
        fh.writelines(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(x, y))
    (folder / "statsmodels_fit.py").write_text(STATSMODELS_SCRIPT)


def _once(argv, cwd) -> tuple[float, str | None]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable] + argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        return elapsed, (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return elapsed, None


def measure(rows: int = 1000, repeats: int = 5) -> dict:
    """Best cold times of every case (seconds), their ratios to the floor, the load and the bandwidths found."""
    load_before = os.getloadavg()
    todo = cases(rows)
    times = {name: [] for name in todo}
    errors = {}
    with tempfile.TemporaryDirectory(prefix="nadaraya-startup-") as tmp:
        folder = Path(tmp)
        write_inputs(folder, rows)
        for name, argv in todo.items():  # warm-up: Numba's cache, the page cache
            _, err = _once(argv, folder)
            if err:
                errors[name] = err
        for _ in range(repeats):
            for name, argv in todo.items():
                if name not in errors:
                    times[name].append(_once(argv, folder)[0])
        bw = {}
        if (folder / "m.npz").exists():
            with np.load(folder / "m.npz") as z:
                bw["nadaraya"] = float(z["bandwidth_"][0])
        if (folder / "statsmodels_bw.npy").exists():
            bw["statsmodels"] = float(np.load(folder / "statsmodels_bw.npy")[0])
    best = {name: min(t) for name, t in times.items() if t}
    floor = best.get("floor")
    rows_out = [{"case": name, "best_s": best.get(name), "runs": len(times[name]),
                 "ratio_to_floor": best[name] / floor if floor and name in best else None,
                 "error": errors.get(name)} for name in todo]
    return {"rows": rows_out, "n": rows, "repeats": repeats, "bandwidths": bw,
            "load_before": list(load_before), "load_after": list(os.getloadavg()), "cores": os.cpu_count()}


def run(sizes, threads, repeats) -> dict:
    """The ``startup`` section of ``benchmarks/run.py`` (``sizes`` and ``threads`` do not apply: n = 1000, defaults)."""
    return measure(rows=1000, repeats=max(repeats, 5))


def markdown(s: dict, m: dict | None = None) -> list[str]:
    """This section's part of the results page."""
    la, lb = s["load_before"], s["load_after"]
    lines = [
        f"## Start-up: cold processes (best of {s['repeats']}, after a warm-up run)",
        "",
        f"Load average {la[0]:.2f} before, {lb[0]:.2f} after, on {s['cores']} cores"
        + (" — **the machine was busy: ratios are noisy**." if max(la[0], lb[0]) > 0.5 * s["cores"] else "."),
        "Targets (issue 11 item 4): `import nadaraya` ≤ 1× the floor, `nadaraya fit` ≤ 1.6×.",
        "",
        "| case | best (s) | runs | × floor |",
        "|---|---|---|---|",
    ]
    for r in s["rows"]:
        if r["error"]:
            lines.append(f"| {r['case']} | error: {r['error']} |  |  |")
        else:
            lines.append(f"| {r['case']} | {r['best_s']:.3f} | {r['runs']} | {r['ratio_to_floor']:.2f} |")
    bw = s.get("bandwidths", {})
    if bw:
        lines += ["", "Bandwidths chosen: " + ", ".join(f"{k} {v:.6g}" for k, v in bw.items()) + "."]
    lines.append("")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="rounds of timed runs; the best is reported (default 5)")
    p.add_argument("--rows", type=int, default=1000, help="rows of the CSV file (default 1000)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    res = measure(args.rows, args.repeats)
    res["date"] = _dt.datetime.now().isoformat(timespec="seconds")
    print("\n".join(markdown(res)))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
