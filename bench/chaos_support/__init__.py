"""The chaos run: the four services under a steady load of dossiers while they are killed
and the broker and the store are restarted, then a check that nothing was lost or repeated.

`bench.chaos` is the command; `run.run_chaos` is what it and the CI-sized test call.
"""
