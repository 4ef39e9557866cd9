"""Benchmarks: each prints ratios against a peer run in the same script (never a timed assertion)."""
