"""Benchmarks (not tests): each prints machine-independent ratios as JSON."""
