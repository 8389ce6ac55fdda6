"""Benchmarks: each module one measurement; ``python -m benchmarks`` runs the summary of them all."""
