"""Engines that compute attention pooling on validated, bandwidth-scaled arrays.

Every engine is a function ``pool(queries, keys, values, kernel, exclude_self, **options)``
taking C-contiguous (b, m, d) queries and (b, n, d) keys already divided by
the bandwidth, (b, n, k) values, and returning (b, m, k) with NaN rows for
queries that have no key inside a compact kernel's support. Engines know
nothing of estimators, plots or files, and do no validation.
"""
