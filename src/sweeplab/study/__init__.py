"""The Optuna study: what the sweep process runs (opening, loop, storage, parent/child runs, search space);
`job_side/` holds what runs in a trial's job process instead."""
