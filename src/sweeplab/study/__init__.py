"""The Optuna study: what the sweep process runs (loop, storage, parent/child runs, search space)."""
