"""Reruns: every run records what it needs, and `sweeplab rerun` reproduces it bit for bit on the CPU."""

import subprocess

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from helpers import compose_config, experiment_ids
from helpers.study import job_launcher, sweeper_cfg
from sweeplab.cli import main as sweeplab
from sweeplab.cli.run_ids import resolve_run_id
from sweeplab.errors import SweeplabError
from sweeplab.runs import provenance
from sweeplab.runs.migrate import RENAMED, migrate
from sweeplab.runs.recorded import apply_overrides
from sweeplab.study.loop import StudyLoop
from sweeplab.training.job import run


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Reruns write outputs/ in the working folder, as training runs do: never in the checkout."""
    monkeypatch.chdir(tmp_path)


def runs(store, experiment=None):
    client = MlflowClient(store)
    ids = [client.get_experiment_by_name(experiment).experiment_id] if experiment else experiment_ids(client)
    return client.search_runs(ids, order_by=["attributes.start_time ASC"])


def history(store, run_id, key="val/loss"):
    return [(m.step, m.value) for m in MlflowClient(store).get_metric_history(run_id, key)]


@pytest.fixture
def original(tiny_overrides, store, tmp_path):
    run(compose_config(tiny_overrides), output_dir=tmp_path / "first")
    (first,) = runs(store)
    return first


def test_same_seed_twice_gives_identical_metrics(original, tiny_overrides, store, tmp_path):
    run(compose_config(tiny_overrides), output_dir=tmp_path / "second")
    first, second = runs(store)
    for key in ("train/loss", "val/loss", "val/acc"):
        assert history(store, first.info.run_id, key) == history(store, second.info.run_id, key)
    assert (tmp_path / "first" / "submission_last.csv").read_bytes() == (
        tmp_path / "second" / "submission_last.csv"
    ).read_bytes()


def test_every_run_records_what_a_rerun_needs(original):
    tags = original.data.tags
    for name in ("python", "torch", "torchvision", "hydra-core", "omegaconf", "optuna", "mlflow", "sweeplab"):
        assert tags[f"sweeplab.version.{name}"]
    assert tags["sweeplab.seed.global"] == "0" and tags["sweeplab.seed.split"] == "0"
    assert tags["sweeplab.deterministic"] == "True" and tags["sweeplab.device"] == "cpu"
    assert len(tags["sweeplab.data.fingerprint"]) == 64 and "," in tags["sweeplab.data.cache_keys"]
    assert tags["sweeplab.command"]
    if provenance.git_state() is not None:  # the checkout under test
        assert len(tags["sweeplab.git.commit"]) == 40 and tags["sweeplab.git.dirty"] in ("True", "False")


def test_rerun_reproduces_a_run_bit_for_bit(original, store, capsys, tmp_path):
    before = MlflowClient(store).get_run(original.info.run_id)
    assert sweeplab(["rerun", original.info.run_id, "--tracking-uri", store]) == 0
    out = capsys.readouterr().out
    # The rerun's files land where a training run's do, and the user is told where.
    (folder,) = (tmp_path / "outputs").glob(f"*/*-rerun-{original.info.run_id[:8]}")
    assert (folder / "submission_best.csv").is_file() and "outputs of the rerun (submissions" in out
    assert (
        "identical to the original" in out
        and "test predictions (submissions/submission_last.csv): identical" in out
    )
    first, again = runs(store)
    assert again.data.tags["sweeplab.rerun_of"] == original.info.run_id
    assert history(store, first.info.run_id) == history(store, again.info.run_id)
    after = MlflowClient(store).get_run(original.info.run_id)
    assert (after.data.tags, after.data.params, after.data.metrics, after.info.status) == (
        before.data.tags,
        before.data.params,
        before.data.metrics,
        before.info.status,
    )  # never modified


def test_rerun_with_overrides_says_so(original, store, capsys):
    assert sweeplab(["rerun", original.info.run_id, "trainer.epochs=3", "--tracking-uri", store]) == 0
    assert "overrides given: differences are expected" in capsys.readouterr().out
    assert len(history(store, runs(store)[-1].info.run_id)) == 3


def test_changed_dataset_warns_and_strict_refuses(original, competition, store, capsys):
    changed = next((competition / "train" / "cat").iterdir())
    changed.write_bytes(changed.read_bytes() + b"\0")
    assert sweeplab(["rerun", original.info.run_id, "--tracking-uri", store, "--strict"]) == 2
    err = capsys.readouterr().err
    assert "warning: dataset fingerprint: original" in err and "nothing was run" in err
    assert len(runs(store)) == 1
    assert sweeplab(["rerun", original.info.run_id, "--tracking-uri", store]) == 0
    assert "warning: dataset fingerprint" in capsys.readouterr().err and len(runs(store)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0123456789abcdef0123456789abcdef"], "is not in the MLflow store"),
        (["ORIGINAL", "model=resnet18"], "config groups cannot be switched on a recorded run"),
        (["ORIGINAL", "trainer.epoch=3"], "use key=value with a key of the recorded config"),
        ([], "give a RUN_ID or --best STUDY"),
    ],
)
def test_rerun_bad_input(store, capsys, args, message, request):
    if "ORIGINAL" in args:  # a run to refuse the rerun of; the others are refused before any run is read
        original_id = request.getfixturevalue("original").info.run_id
        args = [original_id if a == "ORIGINAL" else a for a in args]
    recorded = len(runs(store))
    assert sweeplab(["rerun", *args, "--tracking-uri", store]) == 2
    assert message in capsys.readouterr().err
    assert len(runs(store)) == recorded  # nothing recorded


def test_run_without_config_artifact(store, capsys):
    client = MlflowClient(store)
    foreign = client.create_run(client.create_experiment("foreign")).info.run_id
    assert sweeplab(["rerun", foreign, "--tracking-uri", store]) == 2
    assert "has no config.yaml artifact" in capsys.readouterr().err


@pytest.mark.slow  # ~1.6 s: a git repository and a run
def test_dirty_checkout_records_its_diff(tmp_path, tiny_overrides, store, monkeypatch):
    repo = tmp_path / "code"
    repo.mkdir()
    for command in (["init", "-q"], ["config", "user.email", "t@t"], ["config", "user.name", "t"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True)
    (repo / "model.py").write_text("width = 1\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "first"], check=True)
    (repo / "model.py").write_text("width = 2\n")
    monkeypatch.setattr(provenance, "CODE_DIR", repo)
    run(compose_config(tiny_overrides), output_dir=tmp_path / "o")
    (logged,) = runs(store)
    assert logged.data.tags["sweeplab.git.dirty"] == "True"
    diff = MlflowClient(store).download_artifacts(
        logged.info.run_id, "git/uncommitted.diff", str(tmp_path / "d")
    )
    with open(diff) as f:
        assert "+width = 2" in f.read()


@pytest.mark.slow  # ~1.8 s: a study's trials, then a rerun
def test_rerun_best_trial_of_a_study(tmp_path, tiny_overrides, store, capsys):
    """A study of two real jobs, run in process by the study loop, then `rerun --best` of it."""
    base = [*tiny_overrides, "name=rerun_study"]
    storage = f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}"
    cfg = sweeper_cfg(
        tmp_path,
        direction="maximize",
        storage=storage,
        study_name="rerun_study",
        params={"optimizer.lr": "choice(0.01,0.001)"},
        n_trials=2,
        n_jobs=1,
    )
    StudyLoop(cfg, compose_config(base), job_launcher(base, tmp_path / "jobs"), []).run()
    capsys.readouterr()
    assert sweeplab(["rerun", "--best", "rerun_study", "--storage", storage, "--tracking-uri", store]) == 0
    assert "identical to the original" in capsys.readouterr().out
    trials = [r for r in runs(store, "rerun_study") if r.data.tags.get("sweeplab.role") == "trial"]
    (rerun,) = [r for r in runs(store, "rerun_study") if "sweeplab.rerun_of" in r.data.tags]
    best = max(trials, key=lambda r: r.data.metrics["objective"])
    assert rerun.data.tags["sweeplab.rerun_of"] == best.info.run_id
    assert "sweeplab.study" not in rerun.data.tags  # a rerun reports to no study
    assert history(store, rerun.info.run_id) == history(store, best.info.run_id)


def test_a_config_recorded_before_newer_keys_is_filled_with_defaults(original, store, tmp_path, monkeypatch):
    """Old runs stay rerunnable: keys added since (here: removed from today's record) get their defaults."""
    path = MlflowClient(store).download_artifacts(original.info.run_id, "config.yaml", str(tmp_path))
    today = migrate(OmegaConf.load(path))
    older = OmegaConf.load(path)
    del older.trainer["oom_retry"], older.data["max_corrupt_fraction"], older["study"]
    del older.data["folds"], older.data["fold"], older.trainer["tta"]  # recorded before k-fold and TTA
    older.trainer["epoch_count"] = older.trainer.pop("epochs")  # as if `epochs` had been renamed since
    older.trainer["simulate_oom_above_batch"] = None  # recorded before #19 took this test hook out
    monkeypatch.setitem(RENAMED, "trainer.epoch_count", "trainer.epochs")
    migrated = migrate(older)
    assert (migrated.trainer.oom_retry, migrated.data.max_corrupt_fraction) == (False, 0.05)
    assert (migrated.data.folds, migrated.data.fold, list(migrated.trainer.tta)) == (1, None, [])
    assert migrated.study.trial_id is None and "epoch_count" not in migrated.trainer
    assert OmegaConf.to_container(migrated) == OmegaConf.to_container(today)
    run(apply_overrides(migrated, ["trainer.epochs=1"]), output_dir=tmp_path / "migrated")
    assert runs(store)[-1].data.params["trainer.epochs"] == "1"


def test_run_ids_are_accepted_by_any_unique_prefix(original, store, capsys):
    client = MlflowClient(store)
    full = original.info.run_id
    assert resolve_run_id(client, full[:8]) == full and resolve_run_id(client, full) == full
    twin = client.create_run(original.info.experiment_id).info.run_id
    common = next(i for i in range(32) if twin[i] != full[i])  # the two ids share this many characters
    assert resolve_run_id(client, full[: common + 1]) == full
    if common:
        with pytest.raises(SweeplabError, match=f"ambiguous: 2 runs start with '{full[:common]}'"):
            resolve_run_id(client, full[:common])
    with pytest.raises(SweeplabError, match="not found: no run id starts with 'zzzz'"):
        resolve_run_id(client, "zzzz")
    assert sweeplab(["kaggle", "record", full[:10], "--public", "0.5", "--tracking-uri", store]) == 0
    assert f"run {full}: kaggle/public=0.5000" in capsys.readouterr().out
