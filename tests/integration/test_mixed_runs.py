"""The recipe's mixing in whole runs (issue #31): Mixup and CutMix with label smoothing train single- and
multi-label competitions, with folds and TTA, and a rerun on the CPU is bit-identical."""

import pytest

from helpers import compose_config
from helpers.competitions import make_tagged, tagged_overrides
from helpers.runs import artifact_paths
from sweeplab.protocol import Metric
from sweeplab.training.job import run

MIXING = [
    "augmentation.mixup_alpha=0.4",
    "augmentation.cutmix_alpha=1.0",
    "augmentation.mix_until_epoch=1",
    "trainer.label_smoothing=0.1",
    "trainer.tta=[hflip]",
]


def history(client, run_id: str) -> list[float]:
    return [m.value for m in client.get_metric_history(run_id, Metric.TRAIN_LOSS)]


@pytest.mark.slow  # ~1.5-4 s: three 2-fold runs
def test_mixing_runs_single_label_with_folds_and_reruns_bit_identically(
    tiny_overrides, tmp_path, mlflow_client
):
    losses = []
    for n, mixing in enumerate((MIXING, MIXING, [])):
        overrides = [*tiny_overrides, *mixing, "data.folds=2", f"tracking.experiment=mix{n}"]
        run(compose_config(overrides), output_dir=tmp_path / str(n))
        (logged,) = mlflow_client.search_runs([mlflow_client.get_experiment_by_name(f"mix{n}").experiment_id])
        losses.append(history(mlflow_client, logged.info.run_id))
        assert Metric.OOF_SCORE in logged.data.metrics
    assert losses[0] == losses[1] and len(losses[0]) == 2
    assert losses[2][0] != losses[0][0]  # the same seed unmixed: the mixing did train


def test_mixing_runs_multilabel_with_folds_and_tta(tmp_path, store, mlflow_client):
    overrides = tagged_overrides(make_tagged(tmp_path / "planet"), tmp_path, store)
    run(compose_config([*overrides, *MIXING, "data.folds=2"]), output_dir=tmp_path / "o")
    (logged,) = mlflow_client.search_runs([e.experiment_id for e in mlflow_client.search_experiments()])
    assert logged.info.status == "FINISHED" and Metric.OOF_SCORE in logged.data.metrics
    assert "predictions/thresholds.json" in artifact_paths(mlflow_client, logged.info.run_id)


def test_ema_weights_are_validated_and_kept_with_the_raw_score_beside(
    tiny_overrides, tmp_path, mlflow_client
):
    """The average does not change training: with trainer.ema_decay the raw weights score exactly as a
    run without it (val/score_raw), while val/loss and val/score are the average's."""
    curves = {}
    for name, extra in (("ema", ["trainer.ema_decay=0.9"]), ("plain", [])):
        overrides = [*tiny_overrides, *extra, "optimizer.lr=3e-3", f"tracking.experiment={name}"]
        run(compose_config(overrides), output_dir=tmp_path / name)
        run_id = mlflow_client.search_runs([mlflow_client.get_experiment_by_name(name).experiment_id])[
            0
        ].info.run_id
        keys = (Metric.VAL_SCORE, Metric.VAL_SCORE_RAW, Metric.VAL_LOSS)
        curves[name] = {k: [m.value for m in mlflow_client.get_metric_history(run_id, k)] for k in keys}
    assert curves["ema"][Metric.VAL_SCORE_RAW] == curves["plain"][Metric.VAL_SCORE]
    assert curves["plain"][Metric.VAL_SCORE_RAW] == []  # only beside an average
    assert curves["ema"][Metric.VAL_LOSS] != curves["plain"][Metric.VAL_LOSS]  # validated: the average
