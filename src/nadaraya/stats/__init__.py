"""Statistics on top of attention pooling: local polynomials, bandwidth rules and criteria, bands.

Pure functions of arrays (no estimator state); the estimators and the CLI call them.
"""
