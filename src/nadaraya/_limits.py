"""Limits shared by every entry point that could allocate without bound.

Only :func:`attention_weights` and its relatives (the estimator's method, the
framework modules, batched forms) build an m × n matrix; each of them checks the
size first against one limit, :data:`MAX_WEIGHTS_BYTES`, which a caller raises
per call with ``max_bytes=``.
"""

from __future__ import annotations

import math

#: Default largest attention-weight matrix (all batch elements together) that is built: 256 MiB.
MAX_WEIGHTS_BYTES = 256 * 2**20


def check_weights_size(shape, itemsize: int, max_bytes=None, *, what: str = "attention_weights") -> None:
    """Refuse to build an array of ``shape`` with ``itemsize`` bytes per element above ``max_bytes``.

    Raises a ``ValueError`` naming the size, the limit and the alternatives.
    ``max_bytes=None`` means :data:`MAX_WEIGHTS_BYTES`.
    """
    limit = MAX_WEIGHTS_BYTES if max_bytes is None else max_bytes
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0:
        raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
    need = math.prod(int(s) for s in shape) * int(itemsize)
    if need > limit:
        dims = " x ".join(str(int(s)) for s in shape)
        raise ValueError(
            f"{what} would build a {dims} matrix of {need / 2**20:,.1f} MiB, above max_bytes={limit:,} "
            f"({limit / 2**20:,.1f} MiB). Pool the values without the weights "
            "(nadaraya.attention_pool never builds the matrix), ask for fewer queries, or pass a larger max_bytes"
        )
