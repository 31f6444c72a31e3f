"""Attention pooling on Dask arrays: the same numbers, computed across a cluster.

Queries are independent, and keys can be sharded because every engine's
online-softmax state (:class:`nadaraya.engines.state.Partials`: reference
score, denominator, weighted sums) of two disjoint key sets merges exactly
and associatively. So :func:`attention_pool` builds a task graph of

* one *extent* task per query and key block (its largest ``|x|`` per column)
  and one *divisor* task: what every block is divided by, the in-memory rule
  :func:`nadaraya._checks.bandwidth_divisor` (input range, boxcar edge);
* one *partials* task per (query block, key block) shard, by the engine the
  registry (:mod:`nadaraya.engines`) chooses for the shard's shape, as
  "auto" does in memory (the sorted engine for large 1-D shards, the tree or
  streaming one in d >= 2, the dense one for small shards; ``method=`` names
  one engine for all), holding one query, key and value block;
* per query block, a pairwise tree of *merge* tasks
  (:func:`nadaraya.engines.state.merge`) of depth ``ceil(log2(key blocks))``,
  each holding two partials;
* one *finalize* task per query block, the output chunk.

Every task holds its chunks and nothing else: (2 + k) floats per query of its
block cross the network per partial, never an m × n array. The graph runs on
whatever scheduler is active: a ``distributed.Client`` (lost workers are
recomputed by the scheduler), or Dask's threads.

The scikit-learn estimator routes here when it is given dask arrays
(:func:`predict_regressor`; :func:`fit_regression`, whose result the estimator
assigns), and so does :func:`nadaraya.select_bandwidth` (:func:`search_bandwidth`).

Modules, by job (each imports only those above it, and :mod:`nadaraya`'s lower layers):

* ``_inputs``: shape, dtype, chunk and bandwidth checks from metadata;
* ``_shards``: what the workers run: extents, the divisor, each shard's partials
  (``exclude_self`` cut into squares for engines that take it only so);
* ``_graph``: each shard's engine and the extents / partials / merge-tree / finish
  graph (:func:`attention_pool`, :func:`log_kernel_sums`);
* ``_stats``: moments, exact order statistics and the rules' summary statistics;
* ``_search``: the leave-one-out bandwidth search (:func:`search_bandwidth`);
* ``_estimator``: the estimator's Dask paths (:func:`predict_regressor`, :func:`fit_regression`).

Needs the ``dask`` extra: ``pip install 'nadaraya[dask]'``.

Shape legend: ``m`` queries, ``n`` keys, ``d`` input dimensions, ``k``
outputs per value.
"""

from __future__ import annotations

from .._optional import require

# before any submodule: a missing dask names the extra even when the submodules are already imported
require("dask", "dask")
require("dask.array", "dask")

from ._estimator import RegressorFit, fit_regression, predict_regressor  # noqa: E402
from ._graph import attention_pool, log_kernel_sums  # noqa: E402
from ._search import search_bandwidth  # noqa: E402
from ._stats import _order_statistics, _percentile_linear, _spread  # noqa: E402,F401  (tested directly)

__all__ = ["attention_pool", "log_kernel_sums", "search_bandwidth", "predict_regressor", "fit_regression",
           "RegressorFit"]
