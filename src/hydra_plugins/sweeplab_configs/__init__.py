"""sweeplab's config schemas and the project's `experiments/` folder, for any Hydra app composing conf/."""
