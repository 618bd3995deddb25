"""Render chunks on a Dask distributed cluster: addresses (address.py), what the workers run (tasks.py),
the executor (executor.py)."""
