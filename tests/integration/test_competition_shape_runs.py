"""Kaggle image competitions as they come (issue #21), one small competition per shape built from real
photographs (tests/helpers/kaggle_shapes.py), each run in process with only `data=kaggle data.root=DIR
data.metric=METRIC` and small model and trainer choices; the submission
and the logged Kaggle scores checked against the sample and an independent scorer. The command line's
own run of one shape: tests/e2e/test_competition_shapes.py (this file runs the others in process)."""

import pytest

from helpers import CATS_DOGS, compose_config
from helpers.kaggle_shapes import SHAPES
from helpers.shape_runs import check_run, overrides
from sweeplab.training.job import run as run_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CATS_DOGS.is_dir(), reason=f"real photographs not present at {CATS_DOGS}"),
]


@pytest.mark.parametrize("name", [name for name in SHAPES if name != "planet"])
def test_a_competition_in_kaggles_shape_runs_as_it_comes(name, tmp_path, store, caplog):
    shape = SHAPES[name]
    root = shape.build(tmp_path / name, 48)
    with caplog.at_level("INFO", logger="sweeplab"):
        run_job(compose_config(overrides(shape, root, tmp_path, store)), output_dir=tmp_path / "out")
    assert f"labels from {shape.labels_csv}" in caplog.text  # what was found, one line
    check_run(shape, root, tmp_path, store)
