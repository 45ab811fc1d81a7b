"""Benchmarks: each measures Shuniu's path and a baseline in the same run."""
