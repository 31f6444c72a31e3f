"""The model-file format: an ``.npz`` (never pickled) with a JSON metadata member and a format version.

:func:`save` writes a fitted estimator's state; :func:`load` reads one back
into the class its metadata names, among the ``classes`` it is given. Nothing
in a file is executed. Imports :mod:`nadaraya._output` (atomic writes) only.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .._output import staged_file

__all__ = ["FORMAT", "FORMAT_VERSION", "save", "load"]

FORMAT = "nadaraya-model"
FORMAT_VERSION = 1

_PARAMS = ("kernel", "bandwidth", "order", "categorical", "method")
_ARRAYS = ("X_", "y_", "h_", "bandwidth_", "groups_")


def _json_param(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def save(est, path):
    """Write the fitted ``est`` to ``path`` atomically (a failed write leaves any old file as it was)."""
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(est).__name__,
        "params": {k: _json_param(getattr(est, k)) for k in _PARAMS if hasattr(est, k)},
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": [str(c) for c in getattr(est, "feature_names_in_", [])] or None,
        "n_continuous": int(est.n_continuous_),
        "categorical_indices": list(getattr(est, "categorical_indices_", [])),
        "categories": [c.tolist() for c in getattr(est, "categories_", [])],
        "y_1d": bool(getattr(est, "_y_1d", True)),
        "loo_mse": getattr(est, "loo_mse_", None),
        "edf": getattr(est, "edf_", None),
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


def _read(path):
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable nadaraya model file (corrupted or truncated?): {exc}") from None
    try:
        meta = json.loads(str(arrays.pop("__metadata__")))
    except (KeyError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{str(path)!r} is not a nadaraya model file: no valid metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a nadaraya model file (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has model format version {meta.get('format_version')}; this nadaraya reads version "
            f"{FORMAT_VERSION}"
        )
    return meta, arrays


def load(classes, cls, path):
    """The estimator stored in ``path``: an instance of the class (among ``classes``) its metadata names,
    which must be ``cls`` or a subclass."""
    meta, arrays = _read(path)
    target = {c.__name__: c for c in classes}.get(meta.get("class"))
    if target is None or not issubclass(target, cls):
        raise ValueError(f"{str(path)!r} holds a {meta.get('class')!r}, not a {cls.__name__}")
    try:
        params = {k: v for k, v in meta["params"].items() if k in target().get_params()}
        est = target(**params)
        state = {k: np.asarray(arrays[k], dtype=np.float64) if k != "groups_" else arrays[k].astype(np.int64)
                 for k in _ARRAYS}
        state["sample_weight_"] = arrays.get("sample_weight_")
        if "classes_" not in arrays:
            state["residuals_"] = np.asarray(arrays["residuals_"], dtype=np.float64)
        state["n_features_in_"] = int(meta["n_features_in"])
        if meta.get("feature_names_in"):
            state["feature_names_in_"] = np.asarray(meta["feature_names_in"], dtype=object)
        state["n_continuous_"] = int(meta["n_continuous"])
        if meta["categorical_indices"]:
            state["categorical_indices_"] = [int(i) for i in meta["categorical_indices"]]
            state["categories_"] = [np.asarray(c, dtype=str) for c in meta["categories"]]
        state["_y_1d"] = bool(meta["y_1d"])
        state["loo_mse_"], state["edf_"] = meta.get("loo_mse"), meta.get("edf")
        if meta.get("column_names"):
            state["column_names_"] = meta["column_names"]
        if "classes_" in arrays:
            state["classes_"] = arrays["classes_"]
        if getattr(est, "order", 0) >= 1:
            state["_center"] = (arrays["center_mu"], arrays["center_sd"])
        n, d = state["X_"].shape
        if state["h_"].shape != (d,) or state["y_"].shape[0] != n or state["groups_"].shape != (d,):
            raise ValueError("array shapes do not agree")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is a damaged nadaraya model file: {exc}") from None
    est._restore(state)
    return est
