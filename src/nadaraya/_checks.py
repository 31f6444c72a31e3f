"""Input validation shared by every entry point.

Everything a user passes is checked and converted here, once, before any
engine runs: engines do no validation. Messages name the argument, say what
was wrong and what is accepted.
"""

from __future__ import annotations

import numbers
import sys
from dataclasses import dataclass

import numpy as np

ON_EMPTY = ("warn", "ignore", "raise")


def as_float_array(x, name: str, dtype=None) -> np.ndarray:
    """Convert ``x`` to a floating array, refusing non-numeric, empty, masked and non-finite input."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array; its mask would be ignored. Pass the unmasked entries "
            f"({name}[~{name}.mask], or .compressed() for 1-D) or fill them ({name}.filled(value))"
        )
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of numbers; could not convert it ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers; got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype.kind == "f" and arr.dtype.itemsize >= 4 else np.float64
        if arr.dtype == np.float16:
            dtype = np.float32
    arr = np.asarray(arr, dtype=dtype)
    check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str, row_offset: int = 0) -> None:
    """Refuse NaN and infinite entries, naming the first one's index.

    ``row_offset`` is added to the row index: a chunk of a larger array
    (``nadaraya.dask``) reports the index in the whole array.
    """
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = tuple(int(i) for i in bad)
        if where:
            where = (where[0] + row_offset,) + where[1:]
        where = where[0] if len(where) == 1 else where
        raise ValueError(f"{name} contains NaN or infinite values (first at index {where}); remove or impute them")


def is_dask_collection(x) -> bool:
    """Whether ``x`` is a dask collection (without importing dask: no dask loaded, no dask input)."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(x)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive_float(value, name: str) -> float:
    """Return ``value`` as a positive finite float or raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


def check_bandwidth(bandwidth, d: int, dtype=np.float64) -> np.ndarray:
    """Return the bandwidth as a (d,) array of positive finite values."""
    if isinstance(bandwidth, (bool, np.bool_)) or getattr(np.asarray(bandwidth), "dtype", None) == np.bool_:
        raise ValueError(f"bandwidth must be positive and finite (a number or one per dimension); got {bandwidth!r}")
    if isinstance(bandwidth, str):
        raise TypeError(f"bandwidth must be a positive number or one per input dimension, got {bandwidth!r}")
    try:
        h = np.asarray(bandwidth, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"bandwidth must be a positive number or one per input dimension, got {bandwidth!r}"
        ) from None
    if h.ndim > 1 or (h.ndim == 1 and h.shape[0] not in (1, d)):
        raise ValueError(
            f"bandwidth must be a scalar or have one value per input dimension (d={d}); "
            f"got shape {h.shape}"
        )
    if not np.all(np.isfinite(h) & (h > 0)):
        shown = h.item() if h.ndim == 0 else h.tolist()
        raise ValueError(f"bandwidth must be positive and finite, got {shown}")
    return np.broadcast_to(h, (d,)).astype(dtype)


def check_on_empty(on_empty: str) -> str:
    if on_empty not in ON_EMPTY:
        raise ValueError(f"on_empty must be one of {', '.join(ON_EMPTY)}; got {on_empty!r}")
    return on_empty


@dataclass(frozen=True)
class Problem:
    """Validated pooling inputs in the engines' canonical layout.

    ``queries`` (b, m, d) and ``keys`` (b, n, d) are already divided by the
    bandwidth, ``values`` is (b, n, k); all share one float dtype and are
    C-contiguous. ``unpack`` gives an engine's (b, m, k) result the shape the
    caller expects.
    """

    queries: np.ndarray
    keys: np.ndarray
    values: np.ndarray
    bandwidth: np.ndarray
    batched: bool
    vector_values: bool

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def shape(self):
        """(b, m, n, d, k)."""
        b, m, d = self.queries.shape
        return b, m, self.keys.shape[1], d, self.values.shape[2]

    def unpack(self, out: np.ndarray) -> np.ndarray:
        """(b, m, k) → (m,), (m, k), (b, m) or (b, m, k) as the inputs were."""
        if not self.vector_values:
            out = out[..., 0]
        if not self.batched:
            out = out[0]
        return out


def check_lengths(m: int, n_keys: int, n_values: int, exclude_self: bool) -> None:
    """Keys and values pair up; leave-one-out needs one query per key and at least two keys."""
    if n_keys != n_values:
        raise ValueError(f"keys and values must have the same length n; got {n_keys} keys and {n_values} values")
    if exclude_self:
        if m != n_keys:
            raise ValueError(
                "exclude_self=True needs one query per key (query i leaves out key i); "
                f"got m={m} queries and n={n_keys} keys"
            )
        if n_keys < 2:
            raise ValueError("exclude_self=True needs at least 2 keys; got 1")


def _features(arr: np.ndarray, name: str, batched: bool) -> np.ndarray:
    """Give queries/keys the (b, rows, d) layout."""
    base = 2 if batched else 1
    if arr.ndim == base:
        arr = arr[..., None]
    elif arr.ndim != base + 1:
        want = "(b, m) or (b, m, d)" if batched else "(m,) or (m, d)"
        if name == "keys":
            want = want.replace("m", "n")
        raise ValueError(
            f"{name} must have shape {want}; got a {arr.ndim}-D array of shape {arr.shape}"
            + ("" if batched else " (pass batched=True for a leading batch axis)")
        )
    return arr if batched else arr[None]


def scaled_extent(points, h: np.ndarray) -> float:
    """``M = sqrt(sum_j (max_i |x_ij| / h_j)**2)`` over arrays of points (..., d): the largest scaled norm, bounded.

    Computed in float64 (inf when ``|x| / h`` overflows).
    """
    with np.errstate(over="ignore"):
        top = np.zeros(h.shape[0])
        for x in points:
            top = np.maximum(top, np.abs(x).reshape(-1, h.shape[0]).max(axis=0))
        scaled = top / np.asarray(h, dtype=np.float64)
    biggest = float(scaled.max())
    if not np.isfinite(biggest) or biggest == 0.0:
        return biggest
    return biggest * float(np.sqrt(np.sum((scaled / biggest) ** 2)))  # no overflow in the squares


def max_scaled_coordinate(d: int, dtype) -> float:
    """Largest accepted ``|x_j| / h_j``: ``sqrt(finfo.max / d) / 2``, so squared scaled distances never overflow."""
    return float(np.sqrt(np.finfo(dtype).max / d) / 2)


def check_scaled_range(extent: float, d: int, dtype, h) -> None:
    """Refuse inputs whose bandwidth-scaled coordinates could overflow a squared distance (see ``attention_pool``)."""
    limit = max_scaled_coordinate(d, dtype)
    if not extent <= limit * np.sqrt(d):
        shown = ", ".join(f"{float(x):.3g}" for x in h)
        raise ValueError(
            f"queries and keys divided by the bandwidth must stay within +-{limit:.2g} per coordinate "
            f"({np.dtype(dtype).name}, d={d}: |x| / h <= sqrt(finfo.max / d) / 2, so that squared distances "
            f"cannot overflow); got coordinates up to {extent:.3g} bandwidths from 0 (bandwidth {shown}). "
            "Use a larger bandwidth, or centre and rescale the data"
        )


def closed_support_widening(extent: float, d: int, dtype) -> float:
    """Factor ``1 + delta`` by which the bandwidth of a closed-support kernel (boxcar) is widened.

    ``delta = 4 eps (M + d + 1)`` with ``eps`` the dtype's machine epsilon and
    ``M`` = :func:`scaled_extent`. Dividing by ``h (1 + delta)`` instead of
    ``h`` covers the rounding of the scaled coordinates, their differences
    and the sum of squares, so every key with ``|q - k| <= h`` in exact
    arithmetic (for the inputs as given) has computed ``t <= 1``; keys count
    that are outside by at most ``delta h`` (none for integer data with an
    integer bandwidth, whose gaps are at least ``1 / h >> delta``).
    """
    return 1.0 + 4.0 * float(np.finfo(dtype).eps) * (extent + d + 1)


def bandwidth_divisor(points, h: np.ndarray, dtype, closed_support: bool) -> np.ndarray:
    """What queries and keys are divided by: ``h``, widened for a closed-support kernel; refuses overflow.

    The one rule every path that scales by the bandwidth follows (engines,
    framework modules, Dask): ``points`` are the query and key arrays (..., d)
    as given, ``h`` the (d,) bandwidth. Raises the ``ValueError`` of
    :func:`check_scaled_range` when squared scaled distances could overflow;
    returns ``h`` or, when ``closed_support``, ``h * closed_support_widening(M, d, dtype)``
    (``M`` = :func:`scaled_extent`), in ``dtype``.
    """
    d = h.shape[0]
    extent = scaled_extent(points, h)
    check_scaled_range(extent, d, dtype, h)
    if not closed_support:
        return h
    return (np.asarray(h, dtype=np.float64) * closed_support_widening(extent, d, dtype)).astype(dtype)


def prepare(
    queries, keys, values, bandwidth, *, exclude_self=False, batched=None, need_values=True, closed_support=False
) -> Problem:
    """Validate and convert pooling inputs; see :func:`nadaraya.attention_pool` for the shapes and ranges.

    ``closed_support``: the kernel's support includes its edge (boxcar), so
    the scaled arrays are divided by the bandwidth widened by
    :func:`closed_support_widening` (``Problem.bandwidth`` stays ``h``).
    """
    q = as_float_array(queries, "queries")
    k = as_float_array(keys, "keys")
    v = as_float_array(values, "values") if need_values else None
    if batched is None:
        batched = q.ndim == 3
    elif not isinstance(batched, (bool, np.bool_)):
        raise TypeError(f"batched must be True, False or None, got {batched!r}")
    if not isinstance(exclude_self, (bool, np.bool_)):
        raise TypeError(f"exclude_self must be True or False, got {exclude_self!r}")
    q = _features(q, "queries", batched)
    k = _features(k, "keys", batched)
    if need_values:
        vbase = 2 if batched else 1
        if v.ndim not in (vbase, vbase + 1):
            want = "(b, n) or (b, n, k)" if batched else "(n,) or (n, k)"
            raise ValueError(f"values must have shape {want}; got a {v.ndim}-D array of shape {v.shape}")
        vector_values = v.ndim == vbase + 1
        v = v if vector_values else v[..., None]
        v = v if batched else v[None]
    else:
        vector_values = False
        v = np.zeros(k.shape[:2] + (1,), dtype=k.dtype)
    if not (q.shape[0] == k.shape[0] == v.shape[0]):
        raise ValueError(
            f"queries, keys and values must share the batch size b; got {q.shape[0]}, {k.shape[0]}, {v.shape[0]}"
        )
    if q.shape[2] != k.shape[2]:
        raise ValueError(
            f"queries and keys must have the same number of features d; got d={q.shape[2]} for queries "
            f"and d={k.shape[2]} for keys"
        )
    check_lengths(q.shape[1], k.shape[1], v.shape[1], exclude_self)
    dtype = np.result_type(q.dtype, k.dtype, v.dtype)
    h = check_bandwidth(bandwidth, q.shape[2], dtype)
    scale = bandwidth_divisor((q, k), h, dtype, closed_support)
    return Problem(
        queries=np.ascontiguousarray(q / scale, dtype=dtype),
        keys=np.ascontiguousarray(k / scale, dtype=dtype),
        values=np.ascontiguousarray(v, dtype=dtype),
        bandwidth=h,
        batched=bool(batched),
        vector_values=vector_values,
    )
