"""Benchmarks for polyprop (issue 6); run ``python -m benchmarks.step --help``. Not part of the package."""
