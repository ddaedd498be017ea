"""Running a competition in one of Kaggle's shapes small and fast, and checking what the run wrote and
logged against the sample and an independent scorer (tests/helpers/leaderboard.py)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from helpers.kaggle_shapes import Shape
from helpers.leaderboard import beats, constant_score, score
from helpers.runs import artifact_paths, only_run
from sweeplab.protocol import Metric, Tag

# The seed CNN cut to two blocks for 32 px. Batch 8 for 6 epochs is ~120 steps: BatchNorm's running
# variance (it starts at 1, momentum 0.1) has then converged. With batch 32 (~25 steps) the eval-mode
# model still answered one class for every image on these 0..1 pixels, whatever it had learnt.
FAST = [
    "model=seed_cnn_mini",
    "model.channels=[8,16]",
    "model.fc=[32]",
    "data.img_size=32",
    "trainer.epochs=6",
    "trainer.batch_size=8",
    "optimizer.lr=5e-4",
    "trainer.progress=false",
]
TOP_K = 5


def overrides(shape: Shape, root: Path, tmp_path: Path, store: str) -> list[str]:
    return [
        "data=kaggle",
        f"data.root={root}",
        f"data.metric={shape.metric}",
        *shape.overrides,
        *FAST,
        f"tracking.uri={store}",
        f"data.cache_dir={tmp_path / 'cache'}",
    ]


def check_run(shape: Shape, root: Path, tmp_path: Path, store: str) -> None:
    """The run's submission (as written and as logged) and its Kaggle scores."""
    client = MlflowClient(store)
    run = only_run(client)
    submission = tmp_path / "out" / "submission_best.csv"
    artifact = client.download_artifacts(
        run.info.run_id, "submissions/submission_best.csv", str(tmp_path / "a")
    )
    assert Path(artifact).read_bytes() == submission.read_bytes()
    check_submission(shape, root, submission)
    if shape.kind == "tags":  # one sigmoid per tag; the tuned thresholds are kept with the run
        assert run.data.params["data/task"] == "multilabel"
        assert "predictions/thresholds.json" in artifact_paths(client, run.info.run_id)
    check_scores(shape, root / "solution.csv", submission, client, run)


def check_submission(shape: Shape, root: Path, submission: Path) -> None:
    """The sample's header, ids and order; the kind of values the competition takes."""
    sample_text, written_text = (root / shape.sample).read_text(), submission.read_text()
    assert written_text.splitlines()[0] == sample_text.splitlines()[0]
    sample = pd.read_csv(root / shape.sample, dtype=str, keep_default_na=False)
    written = pd.read_csv(submission, dtype=str, keep_default_na=False)
    assert list(written.iloc[:, 0]) == list(sample.iloc[:, 0])
    values = written.iloc[:, 1:]
    if shape.kind in ("probability", "probabilities"):
        probs = values.to_numpy(dtype=np.float64)
        assert ((probs >= 0) & (probs <= 1)).all()
        if shape.kind == "probabilities":  # one class per image: softmax rows
            np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)
        return
    labels = [v.split(" ") for v in values.iloc[:, 0]]
    assert all(set(row) <= set(shape.values) and len(set(row)) == len(row) for row in labels), labels[:5]
    if shape.kind == "label":  # as the sample writes them: "3", not "3.0"
        assert all(len(row) == 1 for row in labels)
    elif shape.kind == "top_k":
        assert all(len(row) == TOP_K for row in labels)
    else:  # tags: every image has at least one
        assert all(row != [""] for row in labels)


def check_scores(shape: Shape, solution: Path, submission: Path, client: MlflowClient, run) -> None:
    """The logged Kaggle scores of the best epoch are the submission's, scored independently; the
    Public score beats the best constant submission's."""
    best = int(run.data.tags[Tag.BEST_EPOCH])
    for key, usage in ((Metric.KAGGLE_PUBLIC, "Public"), (Metric.KAGGLE_PRIVATE, "Private")):
        logged = {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)}
        expected = score(submission, solution, shape.metric, usage)
        # The file's score exactly: every logged score is the score of the values the file holds.
        assert logged[best] == pytest.approx(expected, rel=1e-9, abs=1e-12), (key, logged, best)
    if shape.metric == "log_loss":
        # A small model trained from scratch can be overconfident, so its log loss may lose to the
        # priors': its most probable class must beat the largest class instead.
        accuracy = score(submission, solution, "accuracy", "Public")
        assert accuracy > constant_score(solution, "accuracy", "Public"), accuracy
    else:
        public = score(submission, solution, shape.metric, "Public")
        constant = constant_score(solution, shape.metric, "Public")
        assert beats(public, constant, shape.metric), (public, constant)
