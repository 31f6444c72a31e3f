"""The scikit-learn regressor: a thin shell over :mod:`._localpoly` and :mod:`._diagnostics`."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .._checks import is_dask_collection
from . import _diagnostics as diag
from . import _params as P
from ._base import _NadarayaWatsonBase
from ._bands import simultaneous_critical_value
from ._fitting import regression_predict, regression_state

from sklearn.base import RegressorMixin  # noqa: E402,I001  (after _base, which explains a missing extra)

__all__ = ["NadarayaWatsonRegressor"]


class NadarayaWatsonRegressor(RegressorMixin, _NadarayaWatsonBase):
    """Nadaraya–Watson kernel regression (attention pooling) with automatic bandwidth.

    Parameters
    ----------
    kernel : str, default "gaussian"
        A name from :data:`nadaraya.KERNELS`.
    bandwidth : float, array of shape (n_features,), {"loo", "scott", "silverman", "plugin", "aicc", "gcv"} or None, default "loo"
        "loo" minimises the leave-one-out squared error (statsmodels' cv_ls): in one
        dimension by a grid and Brent's method on log-bandwidth, in several by a global
        search (:mod:`nadaraya.stats.search`) in which a bandwidth may go to +inf.
        "plugin" is KernSmooth dpill's direct plug-in (one feature), computed exactly;
        "aicc" / "gcv" minimise Hurvich–Simonoff–Tsai AICc or GCV (global minimum, any d).
        Rules of thumb use each feature's spread min(sd, IQR / 1.349). A value of
        ``inf`` smooths that feature out. For categorical features a number is the
        Aitchison–Aitken lambda. None (with ``neighbours``): the pure nearest-neighbour bandwidth.
    order : {0, 1, 2, 3}, default 0
        0: local constant (attention pooling); 1: local linear, which removes
        the boundary bias of order 0; 2, 3: local quadratic and cubic.
    categorical : list of int or str, optional
        Columns (indices or DataFrame names) that are unordered categories.
    ordered : list of int or str, optional
        Columns of ordered categories (numeric codes): the Wang–van Ryzin kernel exactly as
        statsmodels' ``KernelReg`` var_type "o" (``1 - lambda`` on equal codes,
        ``(1 - lambda) / 2 * lambda**|a - b|`` otherwise, raw code differences); the
        bandwidth of such a feature is ``lambda`` in [0, 1]. Codes must be levels seen in fit.
        In a local polynomial (order >= 1) only the continuous features are regressors.
    method : str, default "auto"
        Pooling engine (see :func:`nadaraya.attention_pool`).
    neighbours : float or int, optional
        Adaptive nearest-neighbour bandwidths exactly as R locfit's ``lp(x, nn=a, h=h)``:
        at each query the bandwidth is ``max(h, d_k / c)`` with ``d_k`` the distance to
        the k-th nearest training point (``k = floor(n a)``, or ``k`` given as an int; above n
        locfit's extrapolation) and ``c`` = 2.5 (Gaussian), 3 (Laplace), 1 (compact kernels).
        In d > 1 the distance is measured in units of the bandwidth (raw units with
        ``bandwidth=None``). Pooled with per-query bandwidths by the dense engine's blocks.
    variance : {"global", "local"}, default "global"
        Standard errors ``sigma * ||l(x)||`` with locfit's global ``residual_variance_``
        (then equal to locfit's ``se.fit``), or with the local residual variance (the
        attention-weighted mean of squared in-sample residuals at the same bandwidth:
        it follows a noise level that changes with x, but it is noisy and biased low,
        so its bands under-cover unless each bandwidth holds many points; see the
        bands guide).

    Attributes
    ----------
    bandwidth_ : ndarray (n_features,)
        One value per feature: the continuous features first (in X's column order), then the
        ``categorical`` ones, then the ``ordered`` ones, the order ``bandwidth=`` takes. A
        continuous feature's value is h in X's units; a categorical feature's the
        Aitchison–Aitken lambda, an ordered feature's the Wang–van Ryzin lambda. ``inf``
        means the search smoothed that continuous feature out: its kernel factor is 1 for
        every pair of points, so at ``order=0`` the prediction ignores the feature, and at
        order p ≥ 1 the local weights ignore it but the local polynomial keeps it as a
        regressor (the fit is a polynomial of degree p in it; at order 1, linear). A
        categorical feature smoothed out shows lambda = (c - 1) / c (every level weighs the
        same); an ordered one at lambda = 1 has its widest kernel (unequal codes weigh half as
        much as equal ones). ``bandwidth=bandwidth_`` refits the same model. Where a finite
        number is needed (statsmodels' ``KernelReg(bw=...)`` returns NaN at order 0 and 0 at
        order 1 for ``inf``, NaN for an ordered lambda of 1), use ``effective_bandwidth_``.
    effective_bandwidth_ : ndarray (n_features,)
        ``bandwidth_`` with finite stand-ins: ``inf`` becomes ``1e16 * max |x|`` of that
        feature's training values and an ordered lambda of 1 the largest double below 1, at
        which every kernel factor is the same to rounding. ``bandwidth=effective_bandwidth_``
        gives the same predictions (to ~1e-15), and so does statsmodels' ``KernelReg`` with
        ``bw=effective_bandwidth_`` where it computes the same model (order 0; order 1 with
        continuous features). Computed from the fitted state, so a loaded model has it too.
    residual_variance_ : float or ndarray (k,)
        locfit's ``sigma^2 = RSS / (n - 2 nu1 + nu2)``, ``nu1 = tr H``, ``nu2 = tr H'H``.
    h_ : ndarray
        The bandwidth of each internal column (categorical features: of their one-hot columns).
    loo_mse_ : float
        Leave-one-out mean squared error at ``bandwidth_``.
    edf_ : float
        Effective degrees of freedom (trace of the hat matrix).
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> import nadaraya as nw
    >>> data = nw.make_dataset(n_train=100, seed=0)
    >>> model = nw.NadarayaWatsonRegressor().fit(data.x_train[:, None], data.y_train)
    >>> model.predict(data.x_test[:3, None]).shape
    (3,)
    """

    _y_numeric = True
    _parameter_checks = P.REGRESSOR_CHECKS

    def __init__(self, kernel="gaussian", bandwidth="loo", order=0, *, categorical=None, method="auto",
                 neighbours=None, variance="global", ordered=None):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.order = order
        self.categorical = categorical
        self.method = method
        self.neighbours = neighbours
        self.variance = variance
        self.ordered = ordered

    @property
    def _order(self):
        return self.order

    def fit(self, X, y, sample_weight=None, *, progress=None):
        """Fit on X (n, n_features) and y (n,) or (n, k); choose the bandwidth if asked.

        ``progress(step, total, bandwidth, objective)`` is called during a bandwidth search.
        Dask arrays X, y are fitted on the cluster (:func:`nadaraya.dask.fit_regression`).
        """
        if is_dask_collection(X) or is_dask_collection(y):
            return self._fit_dask(X, y, sample_weight, progress)
        self._restore(regression_state(self._fit(X, y, sample_weight, progress, "squared")))
        return self

    def _fit_dask(self, X, y, sample_weight, progress):
        from ..dask import fit_regression  # the Dask path lives in nadaraya.dask

        p = P.validate_params(self)
        r = fit_regression(X, y, kernel=p.kernel, bandwidth=p.bandwidth, order=p.order, categorical=p.categorical,
                           sample_weight=sample_weight, progress=progress, owner=type(self).__name__)
        d = r.X.shape[1]
        self._restore(dict(n_features_in_=d, n_continuous_=d, X_=r.X, y_=r.y, groups_=np.arange(d), sample_weight_=None,
                           _y_1d=r.y_1d, h_=r.h, bandwidth_=r.h.copy(), loo_mse_=r.loo_mse, residuals_=r.residuals,
                           edf_=r.edf, residual_variance_=r.residual_variance))
        return self

    def predict(self, X, return_std=False):
        """Predictions (m,) or (m, k); with ``return_std`` also their pointwise standard errors.

        The standard error is ``sigma(q) * sqrt(sum_j l_j(q)**2)``: the residual
        standard deviation (``variance``: locfit's global one, or the local one)
        times the norm of the effective weights — a band for the regression
        function that ignores the smoothing bias. A dask
        array X gives lazy dask arrays (:func:`nadaraya.dask.predict_regressor`).
        """
        if is_dask_collection(X):  # the Dask path lives in nadaraya.dask
            from ..dask import predict_regressor

            return predict_regressor(self, X, return_std=return_std)
        return regression_predict(self, self._prepare_predict(X), return_std)

    def predict_interval(self, X, alpha=0.05, simultaneous=False):
        """A (1 - alpha) confidence band for the regression function (bias ignored): (lower, upper).

        Pointwise by default. With ``simultaneous``, the band covers the whole curve over
        the queries' range with probability about 1 - alpha: in one dimension by the
        Sun–Loader tube formula (as locfit's ``scb``: ``kappa0`` over ``[min X, max X]``,
        :mod:`nadaraya.stats.tube`); in d > 1 (or with ``neighbours``) by the simulated
        maximum of the standardised Gaussian process over the given query points
        (simultaneous over those points; seeded, 20000 draws).
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
        pred, std = self.predict(X, return_std=True)
        z = simultaneous_critical_value(self, X, alpha) if simultaneous else stats.norm.ppf(1 - alpha / 2)
        return pred - z * std, pred + z * std

    def derivative(self, X, order=1):
        """``order``-th derivative of the fit with respect to each continuous feature: (m, dc) or (m, dc, k).

        Computed from the local polynomial's coefficients (``order! * beta``), so ``order``
        may not exceed the model's ``order`` (a first derivative of an order-0 fit is a
        central difference). This is KernSmooth's ``locpoly(drv=order)`` without binning and
        R locfit's ``deriv=rep(1, order)`` (with ``bandwidth`` = locfit's ``h / 2.5`` for its
        Gaussian): to 1e-10 of exact weighted least squares. locfit itself differs from that
        at degree ≥ 2 by its Jacobi eigen-solver's error (up to 1.6e-5 of the derivative's
        range on R's ``cars``; see the user guide, "Local-linear fits").
        """
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"derivative order must be an integer >= 1; got {order!r}")
        Z = self._prepare_predict(X)
        d = diag.derivative(self._smoother(), Z, self.y_, self.h_, order)  # (m, k, dc)
        return d[:, 0, :] if self._y_1d else np.transpose(d, (0, 2, 1))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
