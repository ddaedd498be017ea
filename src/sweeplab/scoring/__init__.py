"""The competition's rules, below training, models and the offline bundle: the metrics and their
orientation, the solution's scoring, tuned thresholds, submission formats and how an ensemble mixes."""
