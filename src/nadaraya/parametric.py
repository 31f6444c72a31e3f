"""The chapter's parametric attention pooling, in NumPy, with closed-form gradients.

The model is ``f(q) = sum_i softmax_i(score(|q - x_i| w)) y_i`` with one
learnable scalar ``w`` (the inverse bandwidth; the chapter's Gaussian score is
``-((q - x_i) w)**2 / 2``). It is trained as in the chapter: every training
input is a query over all *other* training pairs (leave-one-out), the loss is
the squared error summed over the examples,

    L(w) = sum_j (f_{-j}(x_j) - y_j)**2,

(PyTorch's ``MSELoss`` summed; MXNet's ``L2Loss`` would be half of it), and
plain gradient descent with learning rate ``lr`` takes one step per epoch on
the whole training set. With ``exclude_self=False`` each input also attends to
its own pair (the in-sample loss): it falls towards 0 as ``w`` grows, so
training drives ``w`` up without end (the current edition's second exercise).

Gradient. With ``t_ij = w**2 |x_i - x_j|**2`` and score ``g(t)``,
``ds_ij/dw = g'(t_ij) 2 w |x_i - x_j|**2`` (0 where ``x_i = x_j``) and, for a softmax,
``df_i/dw = sum_j a_ij (y_j - f_i) ds_ij/dw``, so
``dL/dw = sum_i 2 (f_i - y_i) df_i/dw``. It is computed in blocks of queries,
never holding an n x n matrix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ._checks import as_float_array, check_positive_float, check_positive_int
from .engines.dense import _blocks, softmax_rows, squared_distances
from .kernels import get_kernel

__all__ = ["ParametricFit", "fit_parametric", "parametric_loss"]

log = logging.getLogger(__name__)


def _as_inputs(x, y, exclude_self=True):
    x = as_float_array(x, "x", np.float64)
    y = as_float_array(y, "y", np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n,) or (n, d); got shape {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape (n,) matching x's {x.shape[0]} rows; got shape {y.shape}")
    if exclude_self and x.shape[0] < 2:
        raise ValueError("x must have at least 2 points for leave-one-out training; got 1")
    return x, y


def parametric_loss(w, x, y, *, kernel="gaussian", exclude_self=True):
    """Leave-one-out (or in-sample) squared loss of the chapter's parametric model and its derivative in ``w``.

    Parameters
    ----------
    w : float
        The learnable inverse bandwidth.
    x : array_like, shape (n,) or (n, d)
    y : array_like, shape (n,)
    kernel : str, default "gaussian"
    exclude_self : bool, default True
        Leave each input's own pair out (the chapter's training); False: the in-sample loss.

    Returns
    -------
    loss : float
        ``sum_j (f_{-j}(x_j) - y_j)**2`` (``f`` in place of ``f_{-j}`` in-sample).
    grad : float
        ``dloss/dw``, in closed form.

    Examples
    --------
    >>> import nadaraya as nw
    >>> loss, grad = nw.parametric_loss(1.0, [0.0, 1.0, 2.0], [0.0, 1.0, 4.0])
    >>> round(loss, 4), round(grad, 4)
    (13.5219, -7.0018)
    """
    kern = get_kernel(kernel)
    x, y = _as_inputs(x, y, exclude_self)
    w = float(w)
    if not np.isfinite(w):
        raise ValueError(f"w must be finite, got {w}")
    n = x.shape[0]
    loss = 0.0
    grad = 0.0
    empty = 0
    for r0, r1 in _blocks(n, n):
        d2 = squared_distances(x[r0:r1], x)
        t = (w * w) * d2
        s = kern.score(t)
        if exclude_self:
            rows = np.arange(r1 - r0)
            s[rows, r0 + rows] = -np.inf
        a = softmax_rows(s)
        bad = np.isnan(a[:, 0])
        empty += int(bad.sum())
        a[bad] = 0.0
        f = a @ y
        with np.errstate(invalid="ignore", divide="ignore"):  # g'(0) may be infinite (Laplace): d2 = 0 there
            ds = np.where(d2 > 0, kern.dscore(t) * (2.0 * w) * d2, 0.0)
        df = np.einsum("ij,ij->i", a * (y[None, :] - f[:, None]), ds)
        r = f - y[r0:r1]
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: inf, reported by the caller
            loss += float(r @ r)
            grad += float(2.0 * (r @ df))
    if empty:
        raise ValueError(
            f"at w={w:.6g}, {empty} training inputs have no other training input inside the "
            f"{kern.name} kernel's support, so the leave-one-out loss is undefined; use a smaller "
            "learning rate, a smaller initial w, or the 'gaussian' kernel"
        )
    return loss, grad


@dataclass(frozen=True)
class ParametricFit:
    """Result of :func:`fit_parametric`.

    Attributes
    ----------
    w : float
        The learned inverse bandwidth.
    w_init : float
    losses : ndarray, shape (epochs,)
        Loss at the start of each epoch (as the chapter prints it).
    w_history : ndarray, shape (epochs + 1,)
        ``w`` before the first and after each epoch.
    kernel : str
    """

    w: float
    w_init: float
    losses: np.ndarray = field(repr=False)
    w_history: np.ndarray = field(repr=False)
    kernel: str = "gaussian"

    @property
    def bandwidth(self) -> float:
        """The bandwidth ``1 / |w|`` to pass to :func:`nadaraya.attention_pool`."""
        return 1.0 / abs(self.w) if self.w != 0 else np.inf


def fit_parametric(x, y, *, kernel="gaussian", epochs=5, lr=0.5, w_init=None, seed=0, callback=None,
                   exclude_self=True):
    """Train the chapter's learnable ``w`` by gradient descent on the leave-one-out loss.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, d)
    y : array_like, shape (n,)
    kernel : str, default "gaussian"
    epochs : int, default 5
    lr : float, default 0.5
    w_init : float, optional
        Initial ``w``; by default drawn uniformly from [0, 1) with
        ``numpy.random.default_rng(seed)``, like the chapter's ``torch.rand((1,))``.
    seed : int or numpy.random.Generator, default 0
    callback : callable, optional
        Called as ``callback(epoch, loss, w)`` after each epoch (epoch counts from 1).
    exclude_self : bool, default True
        Train on leave-one-out keys, as the chapter does; False trains on the in-sample loss, which
        ``w`` lowers without end (every input ends up attending to itself alone).

    Returns
    -------
    ParametricFit

    Examples
    --------
    >>> import nadaraya as nw
    >>> data = nw.make_dataset(seed=0)
    >>> fit = nw.fit_parametric(data.x_train, data.y_train, epochs=5, lr=0.5, w_init=1.0)
    >>> fit.losses.shape, bool(fit.losses[-1] < fit.losses[0])
    ((5,), True)
    """
    kern = get_kernel(kernel)
    epochs = check_positive_int(epochs, "epochs")
    lr = check_positive_float(lr, "lr")
    x, y = _as_inputs(x, y, exclude_self)
    w = float(np.random.default_rng(seed).uniform(0.0, 1.0)) if w_init is None else float(w_init)
    if not np.isfinite(w):
        raise ValueError(f"w_init must be finite, got {w_init}")
    w0 = w
    losses, ws = [], [w]
    for epoch in range(1, epochs + 1):
        loss, grad = parametric_loss(w, x, y, kernel=kern, exclude_self=exclude_self)
        w -= lr * grad
        if not (np.isfinite(w) and np.isfinite(loss)):
            raise ValueError(f"training diverged at epoch {epoch} (w={w}); use a smaller learning rate lr")
        losses.append(loss)
        ws.append(w)
        log.info("epoch %d, loss %.6f, w %.6f", epoch, loss, w)
        if callback is not None:
            callback(epoch, loss, w)
    return ParametricFit(w=w, w_init=w0, losses=np.array(losses), w_history=np.array(ws), kernel=kern.name)
