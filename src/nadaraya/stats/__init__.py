"""Statistics on top of attention pooling, as pure functions of arrays (no estimator state).

=============  =====================================================================
localpoly      local polynomials of any order from pooled moments (every engine serves them),
               leave-one-out, smoother norms ``||l(x)||``, infinite bandwidths
plugin         KernSmooth dpill's direct plug-in bandwidth, computed exactly
criteria       leave-one-out, AICc (Hurvich–Simonoff–Tsai) and GCV of a smoother
search         a global bandwidth search in which a bandwidth may go to +inf
nn             locfit's adaptive nearest-neighbour bandwidths and a per-query-bandwidth pooler
tube           Sun–Loader tube constant and critical value (locfit's kappa0 / scb)
ordered        the Wang–van Ryzin kernel of ordered categories as a Gaussian embedding
=============  =====================================================================

The estimators (:mod:`nadaraya.estimator`) and the CLI call them; tests compare
them with R (KernSmooth, locfit: tests/r/fixtures.R) and statsmodels.
"""
