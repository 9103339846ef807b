"""pywarp_sim benchmarks: `python -m bench {throughput,scaling,compile,table} ...`.

Results are data, never assertions: every measurement is one JSON object per
line (JSON Lines), written to stdout and, for sweeps, to bench/results/. See
bench/README.md for the fields and how each backend is timed.
"""
