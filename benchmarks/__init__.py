"""Benchmarks and the soak test (benchmarks/README.md): scripts run as ``python benchmarks/<name>.py``, the soak as
``python -m benchmarks.soak`` from the repository's root.  A package so that its modules have one name each, for
the scripts that share ``run.py``'s process bookkeeping and for mypy."""
