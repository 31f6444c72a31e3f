"""The local fits' normal equations ``A beta = B``: many small symmetric systems, solved at once.

Pure NumPy. :func:`solve` is what every local fit of order ≥ 1 calls (order 0
divides); its first inverse rows give the hat diagonal and the smoother norms
(:mod:`._diagnostics`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["COND_MAX", "solve"]


#: Largest 1-norm condition number of an equilibrated normal matrix that is inverted directly; beyond it
#: the pseudo-inverse (NumPy's cutoff, 1e-15 of the largest singular value) decides, as for a singular one.
COND_MAX = 1e13


def _inverse(A):
    """``A^-1`` of finite symmetric normal matrices A (r, P, P) as (P, P, r), NaN where a direct inverse is unsafe.

    Equilibrated to a unit diagonal first (``D A D``, ``D = diag(A)**-1/2``), so the moments' scales
    (powers of ``h / sd``) do not count against the condition number, then inverted by sweeping each
    pivot in turn (Goodnight's sweep operator: no pivoting, which a positive definite matrix needs none
    of): P rank-one updates over the matrix-major layout (P, P, r), which NumPy runs as contiguous
    loops over the r matrices. A diagonal or a pivot that is not positive, or a 1-norm condition number
    above :data:`COND_MAX`, leaves its matrix NaN.
    """
    P = A.shape[1]
    M = np.ascontiguousarray(A.transpose(1, 2, 0))
    diag = M[np.arange(P), np.arange(P)]
    bad = np.any(~(diag > 0), axis=0)
    s = 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0))
    M *= s[:, None, :]
    M *= s[None, :, :]
    norm = np.abs(M).sum(axis=0).max(axis=0)
    for k in range(P):
        d = M[k, k].copy()
        bad |= ~(d > 0)
        d[bad] = 1.0
        col = M[:, k] / d
        M -= col[:, None, :] * M[None, k, :]
        M[:, k] = col
        M[k, :] = col
        M[k, k] = -1.0 / d
    bad |= ~(norm * np.abs(M).sum(axis=0).max(axis=0) < COND_MAX)
    M *= -s[:, None, :]
    M *= s[None, :, :]
    M[:, :, bad] = np.nan
    return M


def solve(A, B):
    """Coefficients (m, P, k) and the first rows of ``A^-1`` (m, P), NaN where A is not finite.

    Order 0 (P = 1) divides; higher orders invert the (equilibrated) normal matrices directly
    (:func:`_inverse`), and take the pseudo-inverse where that is unsafe: a window with fewer distinct
    points than monomials gets the minimum-norm solution.
    """
    if A.shape[1] == 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            return B / A, 1.0 / A[:, 0]
    finite = np.all(np.isfinite(A), axis=(1, 2))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        inv = _inverse(np.where(finite[:, None, None], A, 0.0))
    rest = np.flatnonzero(finite & np.isnan(inv[0, 0]))
    if rest.size:
        inv[:, :, rest] = np.linalg.pinv(A[rest]).transpose(1, 2, 0)
    return np.einsum("ijm,mjk->mik", inv, B), inv[0].T
