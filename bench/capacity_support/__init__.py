"""The pipeline capacity sweep: ``python -m bench.capacity`` (see docs/performance.md)."""
