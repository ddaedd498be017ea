"""Kaggle scores beside validation scores: local solution scoring and scores recorded on runs."""
