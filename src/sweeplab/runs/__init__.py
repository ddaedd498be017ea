"""Recorded runs: the MLflow store, what a run records of its provenance, and reading runs back."""
