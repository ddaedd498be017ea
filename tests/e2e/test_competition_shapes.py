"""Kaggle image competitions as they come (issue #21): one small competition per shape, built from real
photographs (tests/helpers/kaggle_shapes.py), run with only `data=kaggle data.root=DIR
data.metric=METRIC` and small model and trainer choices; the
submission and the logged Kaggle scores are checked against the sample and an independent scorer
(tests/helpers/leaderboard.py). One shape runs here as a user runs it, `python train.py ...` in a
subprocess; the others run the same composed config in process, in
tests/integration/test_competition_shape_runs.py (each subprocess would spend ~25 s of its ~35 s
importing torch and MLflow again).

The lab's own cats-dogs-mini layout is run unchanged by tests/e2e/test_cli.py::test_real_photographs.
"""

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from helpers import CATS_DOGS, ROOT
from helpers.kaggle_shapes import SHAPES
from helpers.shape_runs import check_run, overrides

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CATS_DOGS.is_dir(), reason=f"real photographs not present at {CATS_DOGS}"),
]


def test_a_competition_in_kaggles_shape_runs_from_the_command_line(tmp_path, store):
    # Planet as the newcomer typed it: the folder and the metric, no data=kaggle, no data.task.
    shape = SHAPES["planet"]
    root = shape.build(tmp_path / "planet", 48)
    # As a user types it: the folder alone, no data=kaggle.
    given = [o for o in overrides(shape, root, tmp_path, store) if o != "data=kaggle"]
    given.append(f"hydra.run.dir={tmp_path / 'out'}")
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *given],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"labels from {shape.labels_csv}" in done.stdout + done.stderr  # what was found, one line
    assert f"data.root={root}: a competition folder, so data=kaggle" in done.stderr
    check_run(shape, root, tmp_path, store)
    (experiment,) = [e.name for e in MlflowClient(store).search_experiments() if e.name != "Default"]
    assert experiment == root.name  # filed under the competition, never under the demo
