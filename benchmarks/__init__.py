"""Micro-benchmarks for the pure core: run a module with ``python -m benchmarks.NAME``."""
