"""Benchmarks of the hoso pipeline; `python -m bench` runs the pipeline beside the alternatives."""
