"""The model-file format: an ``.npz`` (never pickled) with a JSON metadata member and a format version.

:func:`save` writes a fitted estimator's state; :func:`load` reads one back
into the class its metadata names, among the ``classes`` it is given, after
validating the file: only known members, each member's header (shape,
dtype) checked before its data is read (:mod:`._npzfile`), and every field
checked for type, shape, finiteness and consistency with the others. Every
refusal is a :class:`~._npzfile.ModelFileError` (a ``ValueError``) naming the
file and the field. Nothing in a file is executed. Imports
:mod:`nadaraya._output` (atomic writes), :mod:`._npzfile`, :mod:`._categorical`
and :mod:`._params`.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np

from .._output import staged_file
from ._categorical import feature_bandwidths
from ._npzfile import ModelFileError, NpzReader
from ._params import validate_params

__all__ = ["FORMAT", "FORMAT_VERSION", "save", "load", "stored_class", "ModelFileError"]

FORMAT = "nadaraya-model"
FORMAT_VERSION = 1

_PARAMS = ("kernel", "bandwidth", "order", "categorical", "method", "neighbours", "variance", "ordered")
_ARRAYS = ("X_", "y_", "h_", "bandwidth_", "groups_")

#: Every member a model file may hold: name -> (accepted dtype kinds, number of dimensions).
MEMBERS = {
    "__metadata__": ("U", 0), "X_": ("fiu", 2), "y_": ("fiu", 2), "h_": ("fiu", 1), "bandwidth_": ("fiu", 1),
    "groups_": ("iu", 1), "residuals_": ("fiu", 2), "sample_weight_": ("fiu", 1), "classes_": ("biufU", 1),
    "center_mu": ("fiu", 1), "center_sd": ("fiu", 1),
}
#: Largest metadata member read (JSON text).
METADATA_MAX_BYTES = 1 << 24


def _json_param(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def save(est, path, class_name=None):
    """Write the fitted ``est`` to ``path`` atomically (a failed write leaves any old file as it was).

    ``class_name`` (default: ``est``'s class name) is the estimator class the file names.
    """
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": class_name or type(est).__name__,
        "params": {k: _json_param(getattr(est, k)) for k in _PARAMS if hasattr(est, k)},
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": [str(c) for c in getattr(est, "feature_names_in_", [])] or None,
        "n_continuous": int(est.n_continuous_),
        "categorical_indices": list(getattr(est, "categorical_indices_", [])),
        "categories": [c.tolist() for c in getattr(est, "categories_", [])],
        "ordered_indices": list(getattr(est, "ordered_indices_", [])),
        "ordered_levels": [np.asarray(lv).tolist() for lv in getattr(est, "ordered_levels_", [])],
        "y_1d": bool(getattr(est, "_y_1d", True)),
        "loo_mse": getattr(est, "loo_mse_", None),
        "edf": getattr(est, "edf_", None),
        "residual_variance": np.asarray(est.residual_variance_).tolist() if hasattr(est, "residual_variance_") else None,
        "column_names": getattr(est, "column_names_", None),
    }
    try:
        text = json.dumps(meta, allow_nan=True)
    except TypeError as exc:
        raise ValueError(f"cannot save this model: a parameter is not representable in JSON ({exc})") from None
    arrays = {k: getattr(est, k) for k in _ARRAYS + ("residuals_",) if getattr(est, k, None) is not None}
    if est.sample_weight_ is not None:
        arrays["sample_weight_"] = est.sample_weight_
    if hasattr(est, "classes_"):
        arrays["classes_"] = np.asarray(est.classes_)
        if arrays["classes_"].dtype == object:
            arrays["classes_"] = arrays["classes_"].astype(str)
    if getattr(est, "order", 0) >= 1:
        arrays["center_mu"], arrays["center_sd"] = (np.asarray(a, dtype=float) for a in est._center)
    with staged_file(Path(path), name="model") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, __metadata__=np.array(text), **arrays)


class _Checker:
    """Raises :class:`ModelFileError` naming the file and the field."""

    def __init__(self, name):
        self.name = name

    def fail(self, field, problem):
        raise ModelFileError(f"{self.name} is an invalid nadaraya model file: field {field!r} {problem}")

    def require(self, ok, field, problem):
        if not ok:
            self.fail(field, problem)

    def integer(self, meta, field, lo, hi):
        v = meta.get(field)
        self.require(isinstance(v, numbers.Integral) and not isinstance(v, bool) and lo <= v <= hi, field,
                     f"must be an integer in [{lo}, {hi}]; got {v!r}")
        return int(v)

    def strings(self, v, field, length=None):
        self.require(isinstance(v, list) and all(isinstance(s, str) for s in v), field,
                     f"must be a list of strings; got {type(v).__name__}")
        if length is not None:
            self.require(len(v) == length, field, f"must have {length} entries; got {len(v)}")
        return v

    def shape(self, arr, field, shape):
        self.require(arr.shape == shape, field, f"must have shape {shape}; got {arr.shape}")

    def finite(self, arr, field, positive=False):
        self.require(np.all(np.isfinite(arr)), field, "must be finite (it holds NaN or infinite values)")
        if positive:
            self.require(np.all(arr > 0), field, "must be positive")


def _metadata(z: NpzReader) -> dict:
    if "__metadata__" not in z.members:
        raise ModelFileError(f"{z.name} is not a nadaraya model file: it has no '__metadata__' member")
    shape, dtype = z.header("__metadata__")
    if dtype.itemsize > METADATA_MAX_BYTES:
        raise ModelFileError(f"{z.name} is an invalid nadaraya model file: field '__metadata__' is over "
                             f"{METADATA_MAX_BYTES:,} bytes ({dtype.itemsize:,})")
    try:
        meta = json.loads(str(z.read("__metadata__", "U", what="member")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelFileError(f"{z.name} is not a nadaraya model file: its metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelFileError(f"{z.name} is not a nadaraya model file (format {found!r}, expected {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, numbers.Integral) or isinstance(version, bool):
        raise ModelFileError(f"{z.name} is an invalid nadaraya model file: field 'format_version' must be the "
                             f"integer {FORMAT_VERSION}; got {version!r} ({type(version).__name__})")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{z.name} was written by a newer nadaraya (model format version {version}); this "
                             f"nadaraya reads version {FORMAT_VERSION}: upgrade nadaraya to load it")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{z.name} has model format version {version}; this nadaraya reads version {FORMAT_VERSION}")
    return meta


def _check_meta(c: _Checker, meta: dict) -> dict:
    """The metadata's fields checked; returns the derived sizes (d features, continuous, categories)."""
    # n_features_in counts the columns scikit-learn validates: the continuous ones (categorical ones are encoded first)
    dc = c.integer(meta, "n_continuous", 0, 2**31)
    c.require(meta.get("n_features_in") == dc and not isinstance(meta.get("n_features_in"), bool), "n_features_in",
              f"must equal n_continuous ({dc}); got {meta.get('n_features_in')!r}")
    names = meta.get("feature_names_in")
    if names is not None:
        c.strings(names, "feature_names_in", dc)
    idx, cats = meta.get("categorical_indices"), meta.get("categories")
    c.require(isinstance(idx, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in idx),
              "categorical_indices", f"must be a list of integers; got {idx!r}")
    oidx, olev = meta.get("ordered_indices", []), meta.get("ordered_levels", [])
    c.require(isinstance(oidx, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in oidx),
              "ordered_indices", f"must be a list of integers; got {oidx!r}")
    d = dc + len(idx) + len(oidx)
    c.require(d >= 1, "n_continuous", "and categorical_indices describe no feature")
    c.require(idx == sorted(set(idx)) and all(0 <= i < d for i in idx), "categorical_indices",
              f"must list distinct column indices in [0, {d}), sorted; got {idx!r}")
    c.require(oidx == sorted(set(oidx)) and all(0 <= i < d for i in oidx) and not set(oidx) & set(idx),
              "ordered_indices", f"must list distinct column indices in [0, {d}), sorted, not categorical; got {oidx!r}")
    c.require(isinstance(olev, list) and len(olev) == len(oidx) and all(
        isinstance(lv, list) and len(lv) >= 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      and np.isfinite(v) for v in lv) and lv == sorted(set(lv))
        for lv in olev), "ordered_levels", "must list each ordered column's numeric levels (at least two) once, sorted")
    c.require(isinstance(cats, list) and len(cats) == len(idx), "categories",
              f"must be a list with the levels of each of the {len(idx)} categorical columns")
    for levels in cats:
        c.strings(levels, "categories")
        c.require(len(levels) > 0 and levels == sorted(set(levels)), "categories",
                  "must list each column's levels once, sorted")
    c.require(isinstance(meta.get("y_1d"), bool), "y_1d", f"must be true or false; got {meta.get('y_1d')!r}")
    for field in ("loo_mse", "edf"):
        v = meta.get(field)
        c.require(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)), field,
                  f"must be a number or null; got {v!r}")
    rv = meta.get("residual_variance")
    c.require(rv is None or all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in np.ravel(rv)),
              "residual_variance", f"must be a number, a list of numbers or null; got {rv!r}")
    cols = meta.get("column_names")
    if cols is not None:
        c.require(isinstance(cols, dict) and set(cols) <= {"x", "y"}, "column_names",
                  f"must be an object with keys 'x' and 'y'; got {type(cols).__name__}")
        c.strings(cols.get("x", []), "column_names")
        c.require(isinstance(cols.get("y", ""), str), "column_names", "'y' must be a string")
    c.require(isinstance(meta.get("params"), dict), "params", f"must be an object; got {type(meta.get('params')).__name__}")
    return {"d": d, "dc": dc, "categories": cats, "levels": [np.asarray(lv, dtype=np.float64) for lv in olev]}


def _check_arrays(c: _Checker, a: dict, sizes: dict, classifier: bool, order: int, y_1d: bool):
    """Every array's shape, values and consistency with the metadata and with the others."""
    dc, cats, olev = sizes["dc"], sizes["categories"], sizes["levels"]
    groups = np.array(list(range(dc)) + [dc + j for j, lv in enumerate(cats) for _ in lv]
                      + [dc + len(cats) + j for j, lv in enumerate(olev) for _ in range(2 * len(lv) - 1)], dtype=np.int64)
    n_cols, n_feat = groups.size, dc + len(cats) + len(olev)
    for field in _ARRAYS + (("classes_",) if classifier else ("residuals_",)):
        c.require(field in a, field, "is missing")
    X = a["X_"]
    n = X.shape[0]
    c.shape(X, "X_", (n, n_cols))
    c.require(n >= 1, "X_", "must hold at least one training point")
    c.finite(X, "X_")
    c.require(np.array_equal(a["groups_"], groups), "groups_", "does not match the features' columns")
    c.shape(a["h_"], "h_", (n_cols,))
    h = a["h_"]  # +inf: a feature smoothed out by the bandwidth search
    c.require(not np.any(np.isnan(h)) and np.all(h > 0), "h_", "must be positive (or +inf), without NaN")
    c.shape(a["bandwidth_"], "bandwidth_", (n_feat,))
    want = feature_bandwidths(a["h_"], groups, dc, [np.asarray(lv) for lv in cats], olev) if n_cols else a["bandwidth_"]
    c.require(np.allclose(a["bandwidth_"], want, rtol=1e-9, atol=0, equal_nan=False), "bandwidth_",
              "is not consistent with 'h_'")
    y = a["y_"]
    c.require(y.ndim == 2 and y.shape[0] == n, "y_", f"must have shape ({n}, k); got {y.shape}")
    c.finite(y, "y_")
    if classifier:
        c.shape(a["classes_"], "classes_", (y.shape[1],))
        c.require(np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1), "y_", "must be one-hot class indicators")
    else:
        c.require(not y_1d or y.shape[1] == 1, "y_", f"must have one column for a 1-D target; got {y.shape[1]}")
        c.shape(a["residuals_"], "residuals_", y.shape)
        c.require(not np.any(np.isinf(a["residuals_"])), "residuals_", "must not be infinite")
    if "sample_weight_" in a:
        w = a["sample_weight_"]
        c.shape(w, "sample_weight_", (n,))
        c.finite(w, "sample_weight_")
        c.require(np.all(w >= 0) and w.sum() > 0, "sample_weight_", "must be non-negative with a positive sum")
    c.require((order >= 1) == ("center_mu" in a) == ("center_sd" in a), "center_mu",
              f"must be present (with 'center_sd') exactly when order >= 1 (order is {order})")
    if order >= 1:
        for field in ("center_mu", "center_sd"):
            c.shape(a[field], field, (dc,))
            c.finite(a[field], field, positive=field == "center_sd")


def stored_class(path) -> str | None:
    """The estimator class name a model file's metadata gives (the file's header is checked; no array is read)."""
    with NpzReader(path) as z:
        return _metadata(z).get("class")


def load(classes, cls, path, expected=None):
    """The estimator stored in ``path``: an instance of the class (among ``classes``) its metadata names,
    which must be ``cls`` or a subclass.

    ``classes`` is a list of classes, or a dict from the class names files carry to classes;
    ``expected`` (default ``cls``'s name) is the class name an error message asks for.
    """
    with NpzReader(path) as z:
        meta = _metadata(z)
        c = _Checker(z.name)
        unknown = sorted(z.members - set(MEMBERS))
        if unknown:
            raise ModelFileError(f"{z.name} is an invalid nadaraya model file: unknown member {unknown[0]!r} "
                                 f"(a model file holds only {', '.join(sorted(MEMBERS))})")
        names = classes if isinstance(classes, dict) else {k.__name__: k for k in classes}
        target = names.get(meta.get("class"))
        if target is None or not issubclass(target, cls):
            raise ValueError(f"{z.name} holds a {meta.get('class')!r}, not a {expected or cls.__name__}")
        sizes = _check_meta(c, meta)
        allowed = target().get_params()
        params = meta["params"]
        bad = sorted(set(params) - set(allowed))
        c.require(not bad, "params", f"has unknown parameter {bad[0]!r}" if bad else "")
        if "variance" in allowed and "variance" not in params:  # written before the parameter: local then
            params = {**params, "variance": "local"}
        est = target(**params)
        try:
            checked = validate_params(est)
        except (TypeError, ValueError) as exc:
            c.fail("params", f"is not valid: {exc}")
        for member in z.members - {"__metadata__"}:  # every header first: nothing large is read before all agree
            kinds, ndim = MEMBERS[member]
            shape, dtype = z.header(member)
            c.require(len(shape) == ndim, member, f"must be {ndim}-dimensional; got shape {shape}")
            c.require(dtype.kind in kinds, member, f"has dtype {dtype}, which is not a real number type accepted here")
        arrays = {m: z.read(m, MEMBERS[m][0]) for m in z.members - {"__metadata__"}}
    classifier = hasattr(target, "predict_proba")
    _check_arrays(c, arrays, sizes, classifier, checked.order, meta["y_1d"])
    state = {k: np.asarray(arrays[k], dtype=np.float64) for k in _ARRAYS if k != "groups_"}
    state["groups_"] = arrays["groups_"].astype(np.int64)
    state["sample_weight_"] = (np.asarray(arrays["sample_weight_"], dtype=np.float64)
                               if "sample_weight_" in arrays else None)
    if not classifier:
        state["residuals_"] = np.asarray(arrays["residuals_"], dtype=np.float64)
    else:
        state["classes_"] = arrays["classes_"]
    state["n_features_in_"] = sizes["dc"]  # the columns scikit-learn validates (see _check_meta)
    if meta.get("feature_names_in"):
        state["feature_names_in_"] = np.asarray(meta["feature_names_in"], dtype=object)
    state["n_continuous_"] = sizes["dc"]
    if meta["categorical_indices"]:
        state["categorical_indices_"] = list(meta["categorical_indices"])
        state["categories_"] = [np.asarray(lv, dtype=str) for lv in meta["categories"]]
    if meta.get("ordered_indices"):
        state["ordered_indices_"] = list(meta["ordered_indices"])
        state["ordered_levels_"] = sizes["levels"]
    state["_y_1d"] = meta["y_1d"]
    state["loo_mse_"], state["edf_"] = meta.get("loo_mse"), meta.get("edf")
    if meta.get("residual_variance") is not None:
        rv = meta["residual_variance"]
        state["residual_variance_"] = float(rv) if np.ndim(rv) == 0 else np.asarray(rv, dtype=np.float64)
    if meta.get("column_names"):
        state["column_names_"] = meta["column_names"]
    if checked.order >= 1:
        state["_center"] = (np.asarray(arrays["center_mu"], dtype=np.float64),
                            np.asarray(arrays["center_sd"], dtype=np.float64))
    est._restore(state)
    return est
