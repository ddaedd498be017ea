"""sweeplab's Optuna sweeper for Hydra: `hydra/sweeper=optuna`, on the current Optuna major."""
