"""Multi-label competitions through the job: thresholds tuned per epoch and stored, k-fold, a refit that
reuses them, an ensemble that tunes its own, and submissions of tags."""

import csv
import json

import numpy as np
import pytest

from helpers import compose_config, frozen_backbone
from helpers.competitions import TAGS, make_tagged
from helpers.competitions import tagged_overrides as tagged_job
from helpers.runs import artifact_paths, only_run
from sweeplab.data import load_data, make_splits
from sweeplab.data.splits import strata
from sweeplab.errors import ConfigError
from sweeplab.kaggle.ensemble import ensemble
from sweeplab.protocol import Tag
from sweeplab.runs.recorded import apply_overrides, load_recorded
from sweeplab.runs.refit import refit_overrides
from sweeplab.training.job import run


@pytest.fixture
def tagged_overrides(tmp_path, store):
    return tagged_job(make_tagged(tmp_path / "planet"), tmp_path, store)


def test_tag_combinations_stratify_and_rare_ones_are_pooled():
    labels = np.array([[1, 0]] * 10 + [[0, 1]] * 10 + [[1, 1]] * 2, dtype=np.uint8)
    key = strata(labels, 5)
    assert len(set(key[:10])) == 1 and len(set(key[10:20])) == 1 and key[0] != key[10]
    assert set(key[20:]) <= set(key[:20])  # 2 rows of a combination < 5 folds: joined the commonest
    cfg = compose_config(["data.folds=5"]).data
    for split in make_splits(labels, cfg):  # every fold gets both frequent combinations
        assert {tuple(r) for r in labels[split.val_index]} >= {(1, 0), (0, 1)}


def test_a_multilabel_run_tunes_thresholds_and_writes_tags(tagged_overrides, tmp_path, mlflow_client):
    data = load_data(compose_config(tagged_overrides).data)
    assert data.multilabel and data.labels.shape == (36, 3) and data.classes == sorted(TAGS)
    run(compose_config(tagged_overrides), output_dir=tmp_path / "out")
    logged = only_run(mlflow_client)
    assert "predictions/thresholds.json" in artifact_paths(mlflow_client, logged.info.run_id)
    stored = json.loads((tmp_path / "out" / "predictions" / "thresholds.json").read_text())
    assert stored["classes"] == sorted(TAGS) and len(stored["best"]) == 3
    assert all(0.05 <= t <= 0.95 for t in stored["best"])
    assert json.loads(logged.data.tags[Tag.THRESHOLDS]) == stored["best"]
    assert logged.data.tags[Tag.SUBMISSION_FORMAT] == "tags"
    with (tmp_path / "out" / "submission_best.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image_name", "tags"] and [r[0] for r in rows[1:]] == [f"test_{i}" for i in range(12)]
    assert all(r[1] and set(r[1].split()) <= set(TAGS) for r in rows[1:])
    assert 0 <= logged.data.metrics["val/score"] <= 1 and "kaggle/public" in logged.data.metrics


@pytest.mark.slow  # ~4 s: three runs and an ensemble
def test_folds_a_refit_and_an_ensemble_carry_the_thresholds(tagged_overrides, tmp_path, mlflow_client):
    for seed in (0, 1):
        cfg = compose_config([*tagged_overrides, "data.folds=3", f"trainer.seed={seed}"])
        run(cfg, output_dir=tmp_path / f"fold{seed}")
    runs = mlflow_client.search_runs([r.experiment_id for r in mlflow_client.search_experiments()])
    assert all("oof/score" in r.data.metrics for r in runs)
    first = load_recorded(mlflow_client, runs[0].info.run_id)
    given = refit_overrides(first)
    thresholds = json.loads(first.tags[Tag.THRESHOLDS])
    assert given[-1] == f"data.thresholds={json.dumps(thresholds).replace(' ', '')}"
    run(apply_overrides(first.config, given), output_dir=tmp_path / "refit")
    refit = json.loads((tmp_path / "refit" / "predictions" / "thresholds.json").read_text())
    assert refit["best"] == pytest.approx(thresholds, abs=1e-4)  # no validation: the trial's own

    made = ensemble(mlflow_client, [r.info.run_id for r in runs], tmp_path / "ens")
    assert "val/score" in made.scores and "kaggle/public" in made.scores
    stored = json.loads((tmp_path / "ens" / "predictions" / "thresholds.json").read_text())
    assert len(stored["best"]) == 3
    with (tmp_path / "ens" / "submission_best.csv").open() as f:
        assert next(csv.reader(f)) == ["image_name", "tags"]


def test_thresholds_for_a_multiclass_competition_are_refused(tagged_overrides, tmp_path, mlflow_client):
    # data.task=multiclass: data.task=auto would read this folder's labels as the tags they are.
    overrides = [o for o in tagged_overrides if "task" not in o and "metric" not in o]
    overrides += ["data.task=multiclass", "data.thresholds=[0.5,0.5,0.5]"]
    with pytest.raises(ConfigError, match="data.thresholds is for multi-label"):
        run(compose_config(overrides), output_dir=tmp_path / "o")
    assert not mlflow_client.search_runs([e.experiment_id for e in mlflow_client.search_experiments()])


@pytest.mark.slow  # ~6 s: a backbone's features, then two runs
def test_a_frozen_backbones_feature_cache_and_tta_take_multilabel_rows(
    tagged_overrides, weights_path, tmp_path, mlflow_client
):
    frozen = frozen_backbone(tagged_overrides, weights_path)
    for extra in ([], ["trainer.tta=[hflip]"]):  # cached features; the backbone on flipped views
        run(compose_config([*frozen, *extra]), output_dir=tmp_path / f"out{len(extra)}")
    runs = mlflow_client.search_runs([e.experiment_id for e in mlflow_client.search_experiments()])
    assert {r.data.tags[Tag.FEATURE_CACHE] for r in runs} == {"miss", "off"}
    for logged in runs:
        assert Tag.THRESHOLDS in logged.data.tags and 0 <= logged.data.metrics["val/score"] <= 1
