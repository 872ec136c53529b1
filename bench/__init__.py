"""Benchmarks: `make bench` runs them all and rewrites bench/README.md."""
