"""Training: one job's config in, a trained model, its run's records and a submission out."""
