"""The Kaggle finish, on top of runs and studies: ensembles, comparison and its report, submitting to
Kaggle and recording its scores, and how far validation's ranking agrees with the leaderboard's."""
