"""Kaggle scores beside validation scores: local solution scoring, submit/record, compare."""

import csv
import json
import math
import socket
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from helpers import compose_config, experiment_ids
from helpers.kaggle_standin import KaggleStandIn
from sweeplab.cli import main as sweeplab
from sweeplab.data.competition import Competition
from sweeplab.errors import ConfigError, DataError, SweeplabError
from sweeplab.kaggle.comparison import collect, overfits
from sweeplab.kaggle.shown_params import short
from sweeplab.kaggle.submit import submit_run
from sweeplab.scoring.measures import metric_score
from sweeplab.scoring.solution import read_solution
from sweeplab.scoring.submission import Submission, SubmissionFormat
from sweeplab.training.job import run

CLASSES = ["cat", "dog"]
SECRET = "planted0secret0key0123456789abcd"


def cats_and_dogs(test_ids):
    return Competition(Path("."), CLASSES, [], np.zeros(0, dtype=np.int64), [], test_ids)


def write_solution(path, rows):
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([("id", "label", "Usage"), *rows])
    return path


@pytest.fixture
def solution(tmp_path):
    rows = [
        ("1", "cat", "Public"),
        ("2", "dog", "Public"),
        ("3", "cat", "Private"),
        ("4", "dog", "Private"),
        ("5", "cat", "Public"),
        ("6", "dog", "Ignored"),
    ]
    path = write_solution(tmp_path / "solution.csv", rows)
    return read_solution(path, cats_and_dogs([str(i) for i in range(1, 7)]))


# p(dog) per test id 1..6; predicted: cat, cat, cat, dog, dog, cat
P_DOG = np.array([0.2, 0.4, 0.1, 0.9, 0.7, 0.3])
PROBS = np.stack([1 - P_DOG, P_DOG], 1)


def written_as(kind: str) -> Submission:
    """A cats-and-dogs submission of labels, or of p(dog)."""
    return Submission(SubmissionFormat(kind), ("cat", "dog"), False, ("label",), ())


@pytest.mark.parametrize(
    ("metric", "public", "private"),
    [
        ("accuracy", 1 / 3, 1.0),  # public rows 1,2,5: only 1 right; private rows 3,4 both right
        ("macro_f1", 0.25, 1.0),  # cat F1 0.5, dog F1 0.0
        ("roc_auc", 0.5, 1.0),  # public: dog 0.4 beats cat 0.2 but not cat 0.7
        (
            "log_loss",
            -(math.log(0.8) + math.log(0.4) + math.log(0.3)) / 3,
            -(math.log(0.9) + math.log(0.9)) / 2,
        ),
    ],
)
def test_solution_scoring_like_kaggle(solution, metric, public, private):
    kind = "probability" if metric in ("roc_auc", "log_loss") else "label"  # the file each would write
    scores = solution.scores(metric, written_as(kind), PROBS)
    assert scores == {"kaggle/public": pytest.approx(public), "kaggle/private": pytest.approx(private)}


def test_ignored_rows_do_not_count(solution):
    flipped = PROBS.copy()
    flipped[5] = [0.0, 1.0]  # change the Ignored row only
    labels = written_as("label")
    assert solution.scores("accuracy", labels, flipped) == solution.scores("accuracy", labels, PROBS)


def test_mismatched_solution_is_refused(tmp_path):
    path = write_solution(tmp_path / "solution.csv", [("1", "cat", "Public"), ("7", "dog", "Private")])
    with pytest.raises(DataError) as info:
        read_solution(path, cats_and_dogs(["1", "2"]))
    assert "ids without a solution row: ['2']" in str(info.value) and "without a test image: ['7']" in str(
        info.value
    )
    path = write_solution(tmp_path / "solution.csv", [("1", "cat", "Public"), ("2", "bird", "Private")])
    with pytest.raises(DataError, match="labels that are not training classes: \\['bird'\\]"):
        read_solution(path, cats_and_dogs(["1", "2"]))


def test_unknown_metric_and_roc_auc_on_many_classes():
    with pytest.raises(ConfigError, match="data.metric='f2' is unknown"):
        metric_score("f2", np.array([0]), np.ones((1, 2)))
    with pytest.raises(ConfigError, match="roc_auc needs a binary competition"):
        metric_score("roc_auc", np.array([0, 1]), np.ones((2, 3)) / 3)


def metric_keys(store, run_id):
    return set(MlflowClient(store).get_run(run_id).data.metrics)


def only_run_id(store):
    client = MlflowClient(store)
    runs = client.search_runs(experiment_ids(client))
    (logged,) = [r for r in runs if r.data.tags.get("sweeplab.role") != "comparison"]
    return logged.info.run_id


def test_every_epoch_is_scored_on_the_solution(tiny_overrides, store, tmp_path):
    run(compose_config([*tiny_overrides, "optimizer.lr=0.01"]), output_dir=tmp_path / "o")
    client, run_id = MlflowClient(store), only_run_id(store)
    val = {m.step: m.value for m in client.get_metric_history(run_id, "val/score")}
    public = {m.step: m.value for m in client.get_metric_history(run_id, "kaggle/public")}
    gap = {m.step: m.value for m in client.get_metric_history(run_id, "gap/val_minus_public")}
    assert sorted(public) == sorted(val) == [1, 2]
    assert [m.step for m in client.get_metric_history(run_id, "kaggle/private")] == [1, 2]
    assert gap == pytest.approx({e: val[e] - public[e] for e in val})
    # The local public score is the submission file's accuracy on the solution's Public rows.
    rows = (tmp_path / "o" / "submission_last.csv").read_text().splitlines()[1:]
    truth = {
        line.split(",")[0]: line.split(",")
        for line in (tmp_path / "competition" / "solution.csv").read_text().splitlines()[1:]
    }
    public_rows = [r.split(",") for r in rows if truth[r.split(",")[0]][2] == "Public"]
    assert public[2] == pytest.approx(np.mean([p[1] == truth[p[0]][1] for p in public_rows]))


def test_objective_can_be_the_public_score(tiny_overrides, store, tmp_path, competition):
    value = run(
        compose_config([*tiny_overrides, "objective.metric=kaggle/public"]), output_dir=tmp_path / "o"
    )
    history = MlflowClient(store).get_metric_history(only_run_id(store), "kaggle/public")
    assert value == max(m.value for m in history)
    (competition / "solution.csv").unlink()
    with pytest.raises(ConfigError, match="objective.metric=kaggle/public needs a solution.csv"):
        run(compose_config([*tiny_overrides, "objective.metric=kaggle/public"]), output_dir=tmp_path / "o2")


def test_record_by_hand_uses_the_same_names(tiny_overrides, store, tmp_path, competition, capsys):
    (competition / "solution.csv").unlink()  # no local scores: only the recorded ones
    run(compose_config(tiny_overrides), output_dir=tmp_path / "o")
    run_id = only_run_id(store)
    assert (
        sweeplab(
            ["kaggle", "record", run_id, "--public", "0.873", "--private", "0.861", "--tracking-uri", store]
        )
        == 0
    )
    client = MlflowClient(store)
    logged = client.get_run(run_id)
    assert {"kaggle/public", "kaggle/private", "gap/val_minus_public"} <= set(logged.data.metrics)
    best = int(logged.data.tags["sweeplab.best_epoch"])
    (public,) = client.get_metric_history(run_id, "kaggle/public")
    assert (public.value, public.step) == (0.873, best)
    val = {m.step: m.value for m in client.get_metric_history(run_id, "val/score")}
    assert logged.data.metrics["gap/val_minus_public"] == pytest.approx(val[best] - 0.873)
    assert logged.data.tags["sweeplab.kaggle.source"] == "manual"
    assert sweeplab(["kaggle", "record", run_id, "--tracking-uri", store]) == 2
    assert "give --public and/or --private" in capsys.readouterr().err


@pytest.fixture
def kaggle_env(monkeypatch, tmp_path):
    """Planted credentials in Kaggle's standard variables; the package's own client is used unchanged."""
    monkeypatch.setenv("KAGGLE_USERNAME", "sweeplab-test")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)


@pytest.fixture
def standin(kaggle_env, monkeypatch):
    """Kaggle's HTTP API on loopback: the package's production endpoint is pointed at the stand-in."""
    from kagglesdk import kaggle_env as endpoints

    def start(**behaviour) -> KaggleStandIn:
        kaggle = KaggleStandIn(**behaviour)
        monkeypatch.setitem(endpoints._env_to_endpoint, endpoints.KaggleEnv.PROD, kaggle.url)
        return kaggle

    return start


@pytest.fixture
def trained(tiny_overrides, store, tmp_path, competition):
    (competition / "solution.csv").unlink()
    run(compose_config(tiny_overrides), output_dir=tmp_path / "o")
    return only_run_id(store)


def all_recorded_text(store, run_id, folder):
    """Everything a run holds: params, tags and every artifact's bytes."""
    client = MlflowClient(store)
    logged = client.get_run(run_id)
    text = json.dumps([logged.data.params, logged.data.tags, logged.data.metrics])
    local = client.download_artifacts(run_id, "", str(folder))
    return text + "".join(
        p.read_bytes().decode("latin-1") for p in __import__("pathlib").Path(local).rglob("*") if p.is_file()
    )


def test_submit_waits_for_the_score_and_logs_it(standin, trained, store, tmp_path):
    client = MlflowClient(store)
    with standin(pending_polls=2, public="0.873", private="0.861") as kaggle:
        scores = submit_run(
            client, trained, "dogs-vs-cats", "first try", "best", timeout=30, poll_interval=0.05
        )
    assert scores["kaggle/public"] == 0.873 and scores["kaggle/private"] == 0.861
    assert kaggle.polls == 3  # pending twice, then scored
    (uploaded,) = kaggle.uploads.values()
    local = client.download_artifacts(trained, "submissions/submission_best.csv", str(tmp_path / "sub"))
    assert uploaded == Path(local).read_bytes()
    assert f"[sweeplab run {trained}]" in kaggle.submissions[0]["description"]
    logged = client.get_run(trained)
    assert logged.data.tags["sweeplab.kaggle.submission"] == "1000"
    assert logged.data.tags["sweeplab.kaggle.source"] == "kaggle"
    assert {"kaggle/public", "kaggle/private", "gap/val_minus_public"} <= set(logged.data.metrics)
    assert SECRET not in all_recorded_text(store, trained, tmp_path / "scan")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("error", "Kaggle could not score submission 1000: Submission has 9 rows, expected 10"),
        (
            "reject",
            "did not accept the submission to dogs-vs-cats: Your team has used its submission allowance",
        ),
        pytest.param(  # waits out its 1 s timeout
            "never", "has not scored submission 1000 after 1 s; the run is unchanged", marks=pytest.mark.slow
        ),
    ],
)
def test_submit_failures_leave_the_run_untouched(standin, trained, store, mode, message):
    client = MlflowClient(store)
    before = client.get_run(trained).data
    with standin(mode=mode), pytest.raises(SweeplabError) as info:
        submit_run(client, trained, "dogs-vs-cats", epoch="best", timeout=1, poll_interval=0.05)
    assert message in str(info.value)
    after = client.get_run(trained).data
    assert (after.metrics, after.tags) == (before.metrics, before.tags)


def test_submit_without_credentials_or_network(trained, store, monkeypatch, tmp_path, capsys):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "empty"))
    assert sweeplab(["kaggle", "submit", trained, "--competition", "c", "--tracking-uri", store]) == 2
    assert "no Kaggle credentials: put kaggle.json" in capsys.readouterr().err
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    from kagglesdk import kaggle_env as endpoints

    with socket.socket() as s:  # a loopback port nobody listens on: no network
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setitem(endpoints._env_to_endpoint, endpoints.KaggleEnv.PROD, f"http://127.0.0.1:{closed}")
    assert sweeplab(["kaggle", "submit", trained, "--competition", "c", "--tracking-uri", store]) == 2
    err = capsys.readouterr().err
    assert "Kaggle refused the submission to c" in err and SECRET not in err
    assert "kaggle/public" not in MlflowClient(store).get_run(trained).data.metrics


def test_overfit_flag_table():
    assert overfits({1: 0.5, 2: 0.6, 3: 0.7}, {1: 0.6, 2: 0.55, 3: 0.5}) is True
    assert overfits({1: 0.5, 2: 0.6, 3: 0.7}, {1: 0.5, 2: 0.6, 3: 0.65}) is False
    assert overfits({1: 0.5, 2: 0.6}, {1: 0.6, 2: 0.5}) is None  # too few epochs to tell
    assert (
        overfits({1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}, {1: 0.9, 2: 0.5, 3: 0.6, 4: 0.7}) is False
    )  # last 3 only


@pytest.mark.slow  # ~2.5 s: three runs, then compare
def test_compare_shows_runs_with_and_without_kaggle_scores(
    tiny_overrides, store, tmp_path, competition, capsys
):
    run(compose_config([*tiny_overrides, "optimizer.lr=0.01"]), output_dir=tmp_path / "a")  # scored locally
    (competition / "solution.csv").unlink()
    run(compose_config([*tiny_overrides, "optimizer.lr=0.001"]), output_dir=tmp_path / "b")  # no scores
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("competition").experiment_id  # the folder's name
    # A constructed run whose validation rises while the test score falls.
    constructed = client.create_run(experiment, run_name="constructed").info.run_id
    client.log_param(constructed, "optimizer.lr", "0.1")
    client.log_batch(
        constructed,
        metrics=[
            *(Metric("val/score", v, 0, e) for e, v in ((1, 0.6), (2, 0.7), (3, 0.8))),
            *(Metric("kaggle/public", v, 0, e) for e, v in ((1, 0.65), (2, 0.6), (3, 0.55))),
        ],
    )
    client.set_terminated(constructed)
    assert (
        sweeplab(["compare", "competition", "--tracking-uri", store, "--out", str(tmp_path / "report")]) == 0
    )
    out = capsys.readouterr().out
    rows, _ = collect(client, "competition")
    # The one varying param, by its last name part (unique among the compared keys).
    assert len(rows) == 3 and "lr=0.001" in out and "lr=0.01" in out and "optimizer.lr" not in out
    by_lr = {next(p for p in r.params.split() if p.startswith("lr=")): r for r in rows}
    assert by_lr["lr=0.1"].overfits is True and by_lr["lr=0.1"].gap == pytest.approx(0.25)
    assert by_lr["lr=0.001"].public is None  # shown, not dropped
    assert by_lr["lr=0.01"].public is not None
    html = (tmp_path / "report" / "compare.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "YES" in out
    assert "<td>YES</td>" in html and "True" not in html  # the console's words, not Python's
    assert not client.search_runs([experiment], "tags.`sweeplab.role` = 'comparison'")  # nothing logged
    for _ in range(2):  # --log puts the report on one comparison run, reused
        args = ["compare", "competition", "--tracking-uri", store, "--out", str(tmp_path / "report"), "--log"]
        assert sweeplab(args) == 0
    (comparison,) = client.search_runs([experiment], "tags.`sweeplab.role` = 'comparison'")
    assert {a.path for a in client.list_artifacts(comparison.info.run_id, "comparison")} == {
        "comparison/compare.html",
        "comparison/compare.csv",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0001", "0.0001"),
        ("0.123456789", "0.1235"),
        ("[0.75, 1.3333333333333333]", "[0.75, 1.333]"),
        ("adam", "adam"),
    ],
)
def test_compare_rounds_params_so_equal_values_look_equal(value, expected):
    assert short(value) == expected
    assert short("[0.75, 1.3333333]") == short("[0.75, 1.3333333333333333]")
