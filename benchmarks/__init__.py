"""Benchmarks: runnable modules, not tests (python -m benchmarks.NAME)."""
