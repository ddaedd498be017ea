"""The Kaggle finish: refit on all the data, ensembles of runs, rank agreement of val with the leaderboard,
test-time augmentation."""

import csv

import numpy as np
import pytest
import torch
from hydra.errors import HydraException
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from helpers import TINY_MODEL, compose_config
from sweeplab.cli import main as sweeplab
from sweeplab.data import dataset_fingerprint
from sweeplab.data.augment import BatchAugment
from sweeplab.data.competition import read_competition
from sweeplab.errors import SweeplabError
from sweeplab.kaggle.agreement import describe, rank_agreement
from sweeplab.kaggle.ensemble import Member, ensemble, ensemble_name
from sweeplab.kaggle.report import compare
from sweeplab.models.builders import build_model
from sweeplab.models.features import off_reason
from sweeplab.scoring.solution import read_solution
from sweeplab.scoring.submission import Submission
from sweeplab.training.job import run
from sweeplab.training.trainer import Trainer


def all_runs(client):
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_refit_trains_on_every_image_for_the_recorded_epochs_and_links_the_runs(
    tiny_overrides, store, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    given = [*tiny_overrides, "trainer.epochs=3", "optimizer.lr=3e-3", "scheduler=cosine"]
    run(compose_config(given), output_dir=tmp_path / "o")
    client = MlflowClient(store)
    (original,) = all_runs(client)
    trial_id = original.info.run_id
    client.set_tag(trial_id, "sweeplab.best_epoch", "2")  # as if it peaked at epoch 2 of its 3
    assert sweeplab(["refit", trial_id[:8], "--tracking-uri", store]) == 0
    (refit,) = [r for r in all_runs(client) if "sweeplab.refit_of" in r.data.tags]
    assert refit.data.tags["sweeplab.refit_of"] == trial_id
    assert refit.info.run_name == f"refit of {original.info.run_name}"
    params = refit.data.params
    assert (params["data/train_images"], params["data/val_images"]) == ("24", "0")  # every labelled image
    assert params["trainer.epochs"] == "2" and params["data.val_fraction"] == "0.0"
    # The replay rule: the trial's learning rate per epoch up to its best, its cosine over its own 3 epochs.
    assert params["scheduler.T_max"] == "3"
    lr = [[m.value for m in client.get_metric_history(r, "lr")] for r in (trial_id, refit.info.run_id)]
    assert lr[1] == pytest.approx(lr[0][:2])
    assert refit.data.tags["sweeplab.best_epoch"] == "2"  # no validation: the submission is the last epoch
    metrics = refit.data.metrics
    assert "kaggle/public" in metrics and "val/acc" not in metrics and "objective" not in metrics
    assert 0 <= metrics["refit/agreement"] <= 1
    out = capsys.readouterr().out
    assert f"refit {refit.info.run_id} of {trial_id}" in out
    assert "refit/agreement=" in out and "(share of rows with the same label; floor 0.7)" in out
    assert "kaggle/public=" in out and "(trial " in out and "trial val/score=" in out and "at epoch 2" in out
    assert client.download_artifacts(
        refit.info.run_id, "submissions/submission_best.csv", str(tmp_path / "d")
    )


def constructed_run(client, experiment_id, config_yaml, fingerprint, test, ids, val, folder):
    """A run as a training run records it: config, fingerprint, test and validation probabilities."""
    run_id = client.create_run(experiment_id, tags={"sweeplab.data.fingerprint": fingerprint}).info.run_id
    client.log_text(run_id, config_yaml, "config.yaml")
    (folder / run_id).mkdir(parents=True)
    np.savez_compressed(folder / run_id / "test_probs_best.npz", probs=test, ids=ids)
    np.savez_compressed(folder / run_id / "val_probs.npz", **val)
    for name in ("test_probs_best.npz", "val_probs.npz"):
        client.log_artifact(run_id, str(folder / run_id / name), "predictions")
    client.set_terminated(run_id)
    return run_id


@pytest.fixture
def members(tiny_overrides, competition, store, tmp_path):
    """Three constructed runs on the tiny competition with random probabilities; the third validated on
    fewer rows (as a holdout beside two k-fold runs)."""
    client = MlflowClient(store)
    experiment_id = client.create_experiment("competition")
    config_yaml = OmegaConf.to_yaml(compose_config(tiny_overrides))
    comp = read_competition(competition)
    ids, rng = np.array(comp.test_ids), np.random.default_rng(0)
    labels = np.array([i % 2 for i in range(24)])
    made = []
    for n in range(3):
        rows = np.arange(24) if n < 2 else np.arange(0, 24, 3)
        val = {"probs": rng.dirichlet([1, 1], len(rows)), "rows": rows, "labels": labels[rows]}
        test = rng.dirichlet([1, 1], len(ids)).astype(np.float32)
        made.append((test, val))
    fingerprint = dataset_fingerprint(comp)
    run_ids = [
        constructed_run(client, experiment_id, config_yaml, fingerprint, t, ids, v, tmp_path / "m")
        for t, v in made
    ]
    return client, run_ids, made, comp


def test_ensemble_of_three_runs_is_the_hand_averaged_probabilities(members, tmp_path):
    client, run_ids, made, comp = members
    result = ensemble(client, run_ids, tmp_path / "ens")
    new_id, scores = result.run_id, result.scores
    expected = np.mean([t for t, _ in made], axis=0)
    got = np.load(client.download_artifacts(new_id, "predictions/test_probs_best.npz", str(tmp_path / "d")))
    np.testing.assert_allclose(got["probs"], expected, atol=1e-6)
    with (tmp_path / "ens" / "submission_best.csv").open() as f:
        labels = [r[1] for r in list(csv.reader(f))[1:]]
    assert labels == [comp.classes[i] for i in expected.argmax(1)]
    solution = read_solution(comp.solution_path, comp)
    rescored = solution.scores("accuracy", Submission.of(comp), expected)["kaggle/public"]
    assert scores["kaggle/public"] == pytest.approx(rescored)
    rows = np.arange(0, 24, 3)  # validated by all three: the third run's rows
    val = np.mean([v["probs"][np.searchsorted(v["rows"], rows)] for _, v in made], axis=0)
    assert scores["val/acc"] == pytest.approx(float((val.argmax(1) == rows % 2).mean()))
    logged = client.get_run(new_id)
    assert logged.data.tags["sweeplab.ensemble_of"] == ",".join(run_ids)
    assert logged.data.tags["sweeplab.role"] == "ensemble" and logged.data.params["data/val_images"] == "8"
    assert logged.info.run_name == "ensemble of 3 (mean): " + " ".join(r[:8] for r in run_ids)
    # Weights: all on the second run gives the second run's own predictions.
    weighted = ensemble(client, run_ids, tmp_path / "w", weights=[0, 1, 0]).run_id
    got = np.load(
        client.download_artifacts(weighted, "predictions/test_probs_best.npz", str(tmp_path / "w2"))
    )
    np.testing.assert_allclose(got["probs"], made[1][0], atol=1e-6)


def test_ensemble_is_taken_by_kaggle_record_and_by_run_id_prefixes(
    members, store, tmp_path, monkeypatch, capsys
):
    client, run_ids, _, _ = members
    monkeypatch.chdir(tmp_path)
    assert sweeplab(["ensemble", *(r[:10] for r in run_ids), "--rank", "--tracking-uri", store]) == 0
    new_id = capsys.readouterr().out.split()[1]
    assert sweeplab(["kaggle", "record", new_id[:10], "--public", "0.9", "--tracking-uri", store]) == 0
    assert client.get_run(new_id).data.metrics["kaggle/public"] == 0.9


@pytest.mark.parametrize("bad", ["test ids", "competition"])
def test_ensemble_of_mismatched_runs_is_refused_before_anything_is_recorded(members, tmp_path, bad):
    client, run_ids, made, comp = members
    test, val = made[0]
    ids = np.array(comp.test_ids)
    if bad == "test ids":
        ids, fingerprint = ids[::-1], client.get_run(run_ids[0]).data.tags["sweeplab.data.fingerprint"]
    else:
        fingerprint = "another competition"
    config_yaml = OmegaConf.to_yaml(
        OmegaConf.load(client.download_artifacts(run_ids[0], "config.yaml", str(tmp_path / "c")))
    )
    experiment_id = client.get_run(run_ids[0]).info.experiment_id
    odd = constructed_run(client, experiment_id, config_yaml, fingerprint, test, ids, val, tmp_path / "x")
    before = len(all_runs(client))
    message = "predicted different test ids" if bad == "test ids" else "are from different competitions"
    with pytest.raises(SweeplabError, match=message):
        ensemble(client, [run_ids[0], odd], tmp_path / "e")
    assert len(all_runs(client)) == before


def test_rank_agreement_equals_hand_computed_spearman_and_kendall():
    val = [0.1, 0.2, 0.3, 0.4, 0.5]
    public = [0.2, 0.1, 0.4, 0.3, 0.5]  # two swapped pairs: 1 - 6*4/(5*24) = 0.8; (8 - 2)/10 = 0.6
    private = [0.3, 0.5, 0.1, 0.2, 0.4]  # ranks 3 5 1 2 4: 1 - 6*22/120 = -0.1; (5 - 5)/10 = 0
    found = rank_agreement(val, public, private, bootstrap=50)
    pub, priv = found.correlations
    assert (pub.spearman, pub.kendall) == pytest.approx((0.8, 0.6))
    assert (priv.spearman, priv.kendall) == pytest.approx((-0.1, 0.0), abs=1e-12)
    assert pub.spearman_ci[0] <= pub.spearman_ci[1]
    assert found.winner == 4 and found.winner_private_rank == 2 and found.winner_gap == pytest.approx(0.1)
    # The leaderboard's own agreement: public ranks 2 1 4 3 5 vs private 3 5 1 2 4: 1 - 6*28/120 = -0.4;
    # 3 concordant and 7 discordant pairs: (3 - 7)/10 = -0.4.
    assert (found.leaderboards.spearman, found.leaderboards.kendall) == pytest.approx((-0.4, -0.4))
    lines = describe(found, ["a", "b", "c", "d", "e"], 5)
    assert lines[3].startswith("  public ~ private: Spearman -0.40 [") and "noise floor" in lines[3]
    # val ~ private -0.1 beats public ~ private -0.4; with 5 trials the intervals are wide.
    low, high = priv.spearman_ci
    how = "about as well as" if low <= -0.4 <= high else "better than"
    assert lines[4].startswith(f"  validation ranks the trials {how} the public leaderboard does")
    assert "(Spearman with private -0.10 vs -0.40" in lines[4]
    assert rank_agreement(val[:4], public[:4]) is None
    assert "too few trials to tell" in describe(None, [], 4)[0]


@pytest.mark.slow  # ~5 s: bootstrap intervals and the HTML report
def test_compare_sweep_shows_agreement_and_an_ensemble_beside_its_members(store, tmp_path):
    client = MlflowClient(store)
    experiment_id = client.create_experiment("comp")
    study = {"sweeplab.study": "s"}
    parent = client.create_run(experiment_id, tags={**study, "sweeplab.role": "study"}).info.run_id
    client.set_terminated(parent)
    scores = zip([0.1, 0.2, 0.3, 0.4, 0.5], [0.2, 0.1, 0.4, 0.3, 0.5], [0.3, 0.5, 0.1, 0.2, 0.4], strict=True)
    for val, public, private in [*scores, (0.45, 0.6, 0.6)]:
        role = "ensemble" if val == 0.45 else "trial"
        run_id = client.create_run(experiment_id, tags={**study, "sweeplab.role": role}).info.run_id
        client.log_param(run_id, "data.metric", "accuracy")
        for key, value in (("val/score", val), ("kaggle/public", public), ("kaggle/private", private)):
            client.log_metric(run_id, key, value, step=1)
        client.set_terminated(run_id)
    said = compare(client, "comp", "s", None, tmp_path / "cmp")
    assert "over 5 finished trials" in said  # the ensemble is not a trial
    assert "Spearman +0.80" in said and "Kendall +0.60" in said
    assert "#2 of 5 on the private leaderboard" in said
    assert " ensemble" in said and "0.6000" in said  # the ensemble's row, beating every member
    assert "How far to trust validation" in (tmp_path / "cmp" / "compare.html").read_text()


def test_tta_with_hflip_on_a_symmetric_input_is_the_plain_prediction():
    cfg = compose_config([*TINY_MODEL, "trainer.tta=[hflip,vflip]", "trainer.progress=false"])
    model = build_model(cfg.model, num_classes=2, img_size=20)
    augment = BatchAugment(cfg.augmentation, None, torch.device("cpu"))
    half = np.random.default_rng(0).integers(0, 256, (6, 3, 10, 20), dtype=np.uint8)
    symmetric = np.concatenate([half, half[:, :, ::-1]], axis=2)  # top = flipped bottom: vflip-symmetric
    symmetric = np.concatenate([symmetric[..., :10], symmetric[..., :10][..., ::-1]], axis=3)  # and hflip
    rows = np.arange(6)
    with_tta = Trainer(cfg.trainer, model, augment, torch.device("cpu"))
    cfg.trainer.tta = []
    plain = Trainer(cfg.trainer, model, augment, torch.device("cpu"))
    np.testing.assert_allclose(with_tta.predict(symmetric, rows), plain.predict(symmetric, rows), atol=1e-6)
    assert not np.allclose(with_tta.predict(half.repeat(2, 2), rows), plain.predict(half.repeat(2, 2), rows))


def test_tta_views_are_a_closed_choice_and_turn_the_feature_cache_off():
    with pytest.raises(HydraException):
        compose_config(["trainer.tta=[rotate]"])
    cfg = compose_config(["model=resnet18", "model.freeze_backbone=true", "trainer.tta=[hflip]"])
    assert "trainer.tta=['hflip']" in off_reason(cfg)


def test_ensemble_sweep_takes_the_top_trials_of_the_study(tmp_path):
    import optuna

    from sweeplab.study.queries import top_trial_runs

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="job-0123abcd", storage=storage, direction="maximize")
    for n, value in enumerate([0.5, 0.9, 0.7, 0.8]):
        trial = study.ask()
        trial.set_user_attr("sweeplab.mlflow_run_id", f"run{n}")
        study.tell(trial, value)
    assert top_trial_runs("job", storage, 3) == ["run1", "run3", "run2"]  # the job's name will do


def probs_for(labels: np.ndarray, right: np.ndarray, when_wrong: float = 0.4) -> np.ndarray:
    """Two-class probabilities: 0.9 on the true class where `right`, `when_wrong` on it elsewhere."""
    true = np.where(right, 0.9, when_wrong)
    out = np.empty((len(labels), 2))
    out[np.arange(len(labels)), labels] = true
    out[np.arange(len(labels)), 1 - labels] = 1 - true
    return out


@pytest.fixture
def study_members(tiny_overrides, competition, store, tmp_path):
    """Four runs on the same validation rows: two good ones that err, hesitantly, on different rows, one
    at chance (every row the same), one confidently wrong on two rows of three."""
    client = MlflowClient(store)
    experiment_id = client.create_experiment("competition")
    config_yaml = OmegaConf.to_yaml(compose_config(tiny_overrides))
    comp = read_competition(competition)
    ids, rows = np.array(comp.test_ids), np.arange(24)
    labels = rows % 2
    right_a, right_b = rows % 4 != 0, rows % 4 != 1  # 75% right each, wrong on different rows
    vals = [
        probs_for(labels, right_a),
        probs_for(labels, right_b),
        np.full((24, 2), 0.5),  # at chance: a constant prediction
        probs_for(labels, rows % 3 == 0, when_wrong=0.05),
    ]
    test = np.full((len(ids), 2), 0.5, dtype=np.float32)
    fingerprint = dataset_fingerprint(comp)
    run_ids = [
        constructed_run(
            client,
            experiment_id,
            config_yaml,
            fingerprint,
            test,
            ids,
            {"probs": v, "rows": rows, "labels": labels},
            tmp_path / "m",
        )
        for v in vals
    ]
    return client, run_ids


def test_greedy_ensemble_never_loses_to_its_best_member_and_skips_runs_at_chance(study_members, tmp_path):
    client, run_ids = study_members
    made = ensemble(client, run_ids, tmp_path / "g", select=True)
    assert run_ids[2] not in made.members and run_ids[3] not in made.members
    assert set(made.members) == {run_ids[0], run_ids[1]}  # together right on every row
    assert made.scores["val/acc"] == 1.0 > 0.75
    assert f"at chance on validation, never selected: {run_ids[2][:8]}" in made.notes[0]
    assert made.notes[-1].startswith("greedy selection from 4 runs: ")
    tags = client.get_run(made.run_id).data.tags
    assert tags["sweeplab.ensemble_method"] == "mean, greedy selection"
    assert client.get_run(made.run_id).info.run_name.startswith("ensemble of 2 (mean, greedy selection): ")


def test_an_ensemble_of_one_studys_trials_is_named_by_their_numbers():
    trials = [
        Member(
            f"run{n}",
            "planet",
            {"sweeplab.study": "planet-lr", "sweeplab.trial": str(n)},
            None,
            None,
            None,
            None,
        )
        for n in (4, 1)
    ]
    assert ensemble_name(trials, "rank") == "ensemble of 2 (rank): planet-lr #4 #1"


def test_greedy_selection_may_keep_one_run_and_says_so(study_members, tmp_path):
    client, run_ids = study_members
    made = ensemble(client, [run_ids[0], run_ids[3]], tmp_path / "one", select=True)
    assert made.members == [run_ids[0]]
    assert made.scores["val/acc"] == 0.75
    assert "greedy selection kept one run" in made.notes[-1]
    assert "the ensemble is that run's predictions" in made.notes[-1]


def test_a_plain_average_below_its_best_member_warns_naming_who_drags_it_down(study_members, tmp_path):
    client, run_ids = study_members
    made = ensemble(client, [run_ids[0], run_ids[2], run_ids[3]], tmp_path / "top")
    (warning,) = made.notes
    assert warning.startswith("warning: the average scores accuracy ")
    assert f"below its best member {run_ids[0][:8]} (0.75)" in warning
    assert run_ids[3][:8] in warning.split("dragging it down: ")[1]
    assert not ensemble(client, run_ids[:2], tmp_path / "fine").notes  # 1.0 beats both members


def test_greedy_selection_refuses_runs_all_at_chance(study_members, tmp_path):
    client, run_ids = study_members
    with pytest.raises(SweeplabError, match="every run scores at chance on validation"):
        ensemble(client, run_ids[2:], tmp_path / "chance", select=True)
    assert len(client.search_runs([client.get_experiment_by_name("competition").experiment_id])) == 4


@pytest.mark.parametrize(
    "case, message",
    [
        ("no model", "the ensemble cannot be registered: member {first} has no MLflow model"),
        ("last epoch", "--register takes the members' best epochs, whose models they logged"),
        ("bad name", "model name 'a/b': use letters, digits"),
        ("bad alias", "alias 'latest': use letters, digits, '_' or '-', not 'latest' nor v<number>"),
    ],
)
def test_ensemble_register_refusals_are_one_line_and_record_nothing(
    members, store, tmp_path, monkeypatch, capsys, case, message
):
    client, run_ids, _, _ = members
    monkeypatch.chdir(tmp_path)
    extra = {"last epoch": ["--epoch", "last"], "bad alias": ["--alias", "latest"]}.get(case, [])
    name = "a/b" if case == "bad name" else "ens"
    before = len(all_runs(client))
    args = ["ensemble", *run_ids, *extra, "--register", name, "--tracking-uri", store]
    assert sweeplab(args) == 2
    err = capsys.readouterr().err.strip()
    assert message.format(first=run_ids[0][:8]) in err and len(err.splitlines()) == 1
    assert len(all_runs(client)) == before and not client.search_registered_models()


def test_an_ensemble_of_runs_without_models_says_it_logged_none_and_predict_says_why(
    members, store, tmp_path, monkeypatch, capsys
):
    client, run_ids, _, _ = members
    monkeypatch.chdir(tmp_path)
    assert sweeplab(["ensemble", *run_ids, "--tracking-uri", store]) == 0
    out = capsys.readouterr().out
    new_id = out.split()[1]
    assert f"no MLflow model logged for the ensemble: member {run_ids[0][:8]} has no MLflow model" in out
    assert client.get_run(new_id).info.status == "FINISHED"
    assert sweeplab(["predict", new_id[:8], "--images", str(tmp_path), "--tracking-uri", store]) == 2
    err = capsys.readouterr().err.strip()
    assert f"ensemble run {new_id} has no MLflow model: its `sweeplab ensemble` line said why" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "given, message",
    [
        (
            ["--weights", "1,2"],
            "--weights 1,2: give 3 non-negative numbers, one per run, not all 0 (e.g. 2,1,1)",
        ),
        (["--weights", "0,0,0"], "--weights 0,0,0: give 3 non-negative numbers"),
        (["--weights", "1,x,1"], "--weights 1,x,1: give one number per run, comma-separated"),
        (["ENSEMBLE"], "is an ensemble: an ensemble's members are training or refit runs"),
    ],
)
def test_ensemble_refuses_bad_weights_and_ensemble_members_in_one_line(
    members, store, tmp_path, monkeypatch, capsys, given, message
):
    client, run_ids, _, _ = members
    monkeypatch.chdir(tmp_path)
    runs = list(run_ids)
    if given == ["ENSEMBLE"]:
        runs[0], given = ensemble(client, run_ids[:2], tmp_path / "inner").run_id, []
    before = len(all_runs(client))
    assert sweeplab(["ensemble", *runs, *given, "--tracking-uri", store]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert len(all_runs(client)) == before
