"""`python train.py lr_find=true` (issue #31): fastai's range test on the composed config, its plot on an
MLflow run tagged sweeplab.role=lr-find that compare leaves out, and the suggestion as the override."""

import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT
from helpers.runs import artifact_paths
from sweeplab.errors import SweeplabError
from sweeplab.kaggle.comparison import collect
from sweeplab.protocol import Role, Tag
from sweeplab.training.lr_find import START_LR, valley_index


def test_the_valley_is_a_third_and_a_sixth_into_the_longest_fall():
    # The longest fall runs from index 1 (1.2) to 11 (0.2), 11 points; fastai counts its start as
    # 11 - 11 = 0 and steps in 11/3 + 11/6: index 0 + 3 + 1 = 4.
    losses = np.array([1.0, 1.2, 1.1, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.9, 2.0])
    assert valley_index(losses) == 4


@pytest.mark.slow  # ~8 s: a train.py subprocess, as a user runs it
def test_lr_find_prints_the_override_and_records_the_plot(tiny_overrides, tmp_path, mlflow_client):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            *tiny_overrides,
            "lr_find=true",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [x for x in (done.stdout + done.stderr).splitlines() if "lr finder: optimizer.lr=" in x]
    value = float(line.split("optimizer.lr=")[1].split()[0])
    assert START_LR < value < 10.0
    (run,) = mlflow_client.search_runs([e.experiment_id for e in mlflow_client.search_experiments()])
    assert run.data.tags[Tag.ROLE] == Role.LR_FIND and run.info.run_name == "lr finder"
    assert f"{run.data.metrics['lr_find/valley']:.2g}" == f"{value:.2g}"  # printed to 2 digits
    assert {"lr_find.png", "lr_find.json"} <= set(artifact_paths(mlflow_client, run.info.run_id))
    experiment = mlflow_client.get_experiment(run.info.experiment_id).name
    with pytest.raises(SweeplabError, match="no finished runs to compare"):
        collect(mlflow_client, experiment)  # compare leaves the range test out, as a study's parent run
