"""Unordered categorical features: integer codes, one-hot embedding, and the Aitchison–Aitken bandwidth.

The Aitchison–Aitken kernel ``K(a, b) = 1 - lambda`` if ``a == b`` else
``lambda / (c - 1)`` (c levels, ``0 < lambda <= (c - 1) / c``) is, up to a
constant, a Gaussian on the feature's one-hot embedding with bandwidth
``h = 1 / sqrt(log((1 - lambda) (c - 1) / lambda))``: that is how it is
computed. Pure functions of their arguments; imports only NumPy (and pandas
when X is a DataFrame).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from ..stats import ordered as wvr

__all__ = ["Encoding", "search_columns", "refuse_text_columns", "aa_bandwidth", "aa_lambda", "categorical_indices", "column_bandwidths", "feature_bandwidths",
           "finite_bandwidths"]


def aa_bandwidth(lam, c):
    """Gaussian bandwidth on the one-hot embedding that reproduces Aitchison–Aitken ``lambda``."""
    ratio = (1.0 - lam) * (c - 1) / lam
    return 1.0 / np.sqrt(np.log(ratio))


def aa_lambda(h, c):
    """The Aitchison–Aitken ``lambda`` of a Gaussian bandwidth ``h`` on a c-level one-hot block."""
    e = np.exp(-1.0 / (h * h))
    return (c - 1) * e / (1.0 + (c - 1) * e)


def categorical_indices(categorical, X, n_features) -> list[int]:
    """Sorted column indices of ``categorical`` (indices or DataFrame column names) among X's columns."""
    if categorical is None:
        return []
    cats = [categorical] if isinstance(categorical, (str, numbers.Integral)) else list(categorical)
    names = list(getattr(X, "columns", []))
    out = []
    for c in cats:
        if isinstance(c, str):
            if c not in names:
                raise ValueError(f"categorical column {c!r} is not among the columns of X: {names}")
            out.append(names.index(c))
        elif isinstance(c, numbers.Integral) and -n_features <= c < n_features:
            out.append(int(c) % n_features)
        else:
            raise ValueError(f"categorical must list column indices in [0, {n_features}) or column names; got {c!r}")
    return sorted(set(out))


@dataclass(frozen=True)
class Encoding:
    """Which columns are categorical and the levels seen in fit (sorted strings per column)."""

    indices: list = field(default_factory=list)
    categories: list = field(default_factory=list)
    ordered: list = field(default_factory=list)  # ordered columns (Wang–van Ryzin), after the categorical features
    levels: list = field(default_factory=list)   # their sorted numeric levels

    @classmethod
    def learn(cls, X, categorical, ordered=None) -> "Encoding":
        """The encoding of ``categorical`` columns of X (levels: the sorted distinct values as strings)
        and of ``ordered`` columns (levels: the sorted distinct numbers, at least two)."""
        n_features = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
        if (categorical is None and ordered is None) or n_features is None:
            return cls()
        idx = categorical_indices(categorical, X, n_features)
        oidx = categorical_indices(ordered, X, n_features)
        if set(idx) & set(oidx):
            raise ValueError(f"a column cannot be both categorical and ordered; got {sorted(set(idx) & set(oidx))}")
        raw = _as_object(X)
        levels = [wvr.levels(raw[:, col]) for col in oidx]
        for col, lev in zip(oidx, levels):
            if len(lev) < 2:
                raise ValueError(f"ordered column {col} has a single level ({lev[0]:g}); drop it or list it as continuous")
        return cls(idx, [np.unique(raw[:, col].astype(str)) for col in idx], oidx, levels)

    def split(self, X):
        """(continuous columns of X, (integer codes (n, c) with -1 for a level unseen in fit, ordered values (n, o)))
        or (X, None)."""
        if not (self.indices or self.ordered) or not (hasattr(X, "shape") and len(X.shape) == 2):
            return X, None
        raw = _as_object(X)
        drop = sorted(self.indices + self.ordered)
        cont = np.delete(raw, drop, axis=1)
        if hasattr(X, "columns"):
            import pandas as pd

            cont = pd.DataFrame(cont, columns=[c for i, c in enumerate(X.columns) if i not in drop])
        codes = np.empty((raw.shape[0], len(self.indices)), dtype=np.int64)
        for j, col in enumerate(self.indices):
            values = raw[:, col].astype(str)
            cats = self.categories[j]
            pos = np.clip(np.searchsorted(cats, values), 0, len(cats) - 1)
            codes[:, j] = np.where(cats[pos] == values, pos, -1)
        ordv = np.column_stack([np.asarray(raw[:, col], dtype=np.float64) for col in self.ordered]) if self.ordered \
            else np.empty((raw.shape[0], 0))
        return cont, (codes, ordv)

    def embed(self, Xc, codes):
        """Continuous features, then one-hot blocks of the categorical ones, then the thermometer and one-hot
        blocks of the ordered ones (:func:`nadaraya.stats.ordered.embed`); and the column → feature map."""
        parts, groups = [Xc], list(range(Xc.shape[1]))
        if codes is not None:
            codes, ordv = codes
            for j, cats in enumerate(self.categories):
                onehot = np.zeros((Xc.shape[0], len(cats)))
                ok = codes[:, j] >= 0
                onehot[np.flatnonzero(ok), codes[ok, j]] = 1.0
                parts.append(onehot)
                groups += [Xc.shape[1] + j] * len(cats)
            for j, lev in enumerate(self.levels):
                block = wvr.embed(ordv[:, j], lev)
                parts.append(block)
                groups += [Xc.shape[1] + len(self.categories) + j] * block.shape[1]
        return np.concatenate(parts, axis=1), np.array(groups)


def refuse_text_columns(X, categorical_indices=()) -> None:
    """Refuse a column of X, other than the categorical ones, that holds text, naming it and suggesting ``categorical=``.

    Text that reads as numbers ("1.5") is accepted, and values of other types
    are left to scikit-learn's own check.
    """
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items"):  # a DataFrame: columns by name
        columns = [(j, name, dt, X.iloc[:, j].to_numpy()) for j, (name, dt) in enumerate(dtypes.items())]
    else:
        arr = np.asarray(X) if hasattr(X, "__array__") or isinstance(X, (list, tuple)) else None
        if arr is None or arr.ndim != 2 or arr.dtype.kind not in "OSU":
            return
        columns = [(j, j, arr.dtype, arr[:, j]) for j in range(arr.shape[1])]
    for j, name, dt, values in columns:
        if j in categorical_indices or getattr(dt, "kind", "O") in "biufc":
            continue
        try:
            np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            if any(isinstance(v, (str, bytes, np.str_, np.bytes_)) for v in values):
                raise ValueError(
                    f"X column {name!r} holds text (dtype {dt}), not numbers; pass categorical=[{name!r}] to use it "
                    "as an unordered category, or convert it to numbers"
                ) from None


def _as_object(X):
    return X.to_numpy(dtype=object) if hasattr(X, "to_numpy") else np.asarray(X, dtype=object)


def _ordered_columns(groups, n_continuous, categories, levels):
    """For each ordered feature: (its thermometer columns, its one-hot columns)."""
    out = []
    for j, lev in enumerate(levels):
        cols = np.flatnonzero(groups == n_continuous + len(categories) + j)
        out.append((cols[: len(lev) - 1], cols[len(lev) - 1 :]))
    return out


def search_columns(h_feat, groups, n_continuous, categories, levels=()) -> np.ndarray:
    """Column bandwidths from one *internal* bandwidth per feature (an ordered feature's is its thermometer's)."""
    h_cols = np.asarray(h_feat, dtype=np.float64)[groups].copy()
    for _, onehot in _ordered_columns(groups, n_continuous, categories, levels):
        h_cols[onehot] = wvr.ONE_HOT_BANDWIDTH
    return h_cols


def column_bandwidths(given, groups, n_continuous, categories, levels=()) -> np.ndarray:
    """Bandwidth per internal column from one value per feature (lambda for the categorical and ordered features)."""
    given = np.asarray(given, dtype=np.float64)
    h_cols = given[groups].copy()
    for j, (thermo, onehot) in enumerate(_ordered_columns(groups, n_continuous, categories, levels)):
        h_cols[thermo] = wvr.bandwidth(given[n_continuous + len(categories) + j])
        h_cols[onehot] = wvr.ONE_HOT_BANDWIDTH
    for j, cats in enumerate(categories):
        lam = given[n_continuous + j]
        c = max(len(cats), 2)
        if not 0 < lam <= (c - 1) / c:
            raise ValueError(
                f"the bandwidth of categorical feature {j} is the Aitchison–Aitken lambda and must lie in "
                f"(0, {(c - 1) / c:.3g}]; got {lam}"
            )
        # lambda = (c - 1) / c weighs every level alike: h = inf, what feature_bandwidths reports for it
        h_cols[groups == n_continuous + j] = np.inf if lam == aa_lambda(np.inf, c) else aa_bandwidth(lam, c)
    return h_cols


def feature_bandwidths(h_cols, groups, n_continuous, categories, levels=()) -> np.ndarray:
    """One value per feature from the column bandwidths: h for continuous features, lambda for categorical
    (Aitchison–Aitken) and ordered (Wang–van Ryzin) ones."""
    n_feat = int(groups.max()) + 1
    feat_h = np.array([h_cols[groups == g][0] for g in range(n_feat)])
    for j, cats in enumerate(categories):
        feat_h[n_continuous + j] = aa_lambda(feat_h[n_continuous + j], max(len(cats), 2))
    for j in range(len(levels)):
        f = n_continuous + len(categories) + j
        feat_h[f] = wvr.smoothing(feat_h[f])
    return feat_h


#: An infinite bandwidth's finite stand-in is this many times the largest |x| of the feature.
FINITE_INFINITY = 1e16


def finite_bandwidths(bandwidths, X, n_continuous, levels=()) -> np.ndarray:
    """``bandwidth_`` (one value per feature) with finite stand-ins that fit the same: ``effective_bandwidth_``.

    A continuous feature's ``inf`` becomes ``FINITE_INFINITY * max |x|`` over its training values
    (``X``'s column; 1 when all are 0): for points within that reach ``|x - x'| / h <= 2e-16``, so
    every kernel's factor for the feature is 1 to rounding. An ordered feature's Wang–van Ryzin
    ``lambda = 1`` (its thermometer bandwidth infinite; statsmodels' ``wang_ryzin`` is 0 there, 0/0
    in a fit) becomes the largest double below 1, whose ``lambda**|a - b|`` is 1 to rounding
    (``|a - b| * 1.1e-16``). Other values are finite and usable already and stay as they are.
    """
    out = np.array(bandwidths, dtype=np.float64)
    for j in range(n_continuous):
        if np.isinf(out[j]):
            reach = float(np.max(np.abs(X[:, j]), initial=0.0))
            out[j] = min(FINITE_INFINITY * (reach if reach > 0 else 1.0), np.finfo(np.float64).max)
    for j in range(len(out) - len(levels), len(out)):
        if out[j] == 1.0:
            out[j] = np.nextafter(1.0, 0.0)
    return out
