"""A refit checked before it counts: the agreement of two submissions as written (shares of rows, rank
correlations), its refusals, the replay rule's learning rates per scheduler, and the flags refused before
anything trains."""

import csv

import pytest
import torch
from omegaconf import OmegaConf

from helpers import compose_config
from sweeplab.cli import main as sweeplab
from sweeplab.errors import SweeplabError
from sweeplab.runs.recorded import Recorded, apply_overrides
from sweeplab.runs.refit import refit_overrides
from sweeplab.runs.submission_agreement import FLOOR_SHARE, FLOOR_SPEARMAN, submission_agreement
from sweeplab.training.optim import build_scheduler


def written(path, header, rows):
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


@pytest.mark.parametrize(
    ("kind", "header", "trial", "refit", "expected", "floor"),
    [
        # labels: the share of rows with the same one; rows joined by id, whatever their order
        ("label", ["id", "label"], [(1, "cat"), (2, "dog")], [(2, "dog"), (1, "dog")], 0.5, FLOOR_SHARE),
        # tags: per row the share of tags in common (Jaccard), in any order; two empty rows agree
        (
            "tags",
            ["id", "tags"],
            [(1, "a b"), (2, "")],
            [(1, "b a c"), (2, "")],
            (2 / 3 + 1) / 2,
            FLOOR_SHARE,
        ),
        # top-k: the first label
        (
            "top_k",
            ["Image", "Id"],
            [(1, "w1 w2"), (2, "w3 w1")],
            [(1, "w1 w3"), (2, "w1 w3")],
            0.5,
            FLOOR_SHARE,
        ),
        # one probability: Spearman, blind to a refit's sharper calibration
        (
            "probability",
            ["id", "p"],
            [(1, 0.1), (2, 0.4), (3, 0.8)],
            [(1, 0.01), (2, 0.5), (3, 0.99)],
            1.0,
            FLOOR_SPEARMAN,
        ),
        # class columns: Spearman over the flattened matrix
        (
            "probabilities",
            ["id", "a", "b"],
            [(1, 0.9, 0.1), (2, 0.2, 0.8)],
            [(1, 0.8, 0.2), (2, 0.3, 0.7)],
            1.0,
            FLOOR_SPEARMAN,
        ),
    ],
)
def test_agreement_of_two_written_submissions(tmp_path, kind, header, trial, refit, expected, floor):
    found = submission_agreement(
        written(tmp_path / "t.csv", header, trial), written(tmp_path / "r.csv", header, refit), kind
    )
    assert found.value == pytest.approx(expected) and found.default_floor == floor
    assert found.rows == len(trial)


@pytest.mark.parametrize(
    ("header", "refit", "message"),
    [
        (
            ["id", "label"],
            [(1, "cat"), (3, "cat")],
            r"2 ids are in one of the trial's and the refit's submissions and not the other \(e.g. '2'\)",
        ),
        (
            ["id", "target"],
            [(1, "cat"), (2, "cat")],
            "the trial's and the refit's submissions have other columns",
        ),
    ],
)
def test_submissions_that_cannot_be_compared_are_one_line(tmp_path, header, refit, message):
    trial = written(tmp_path / "t.csv", ["id", "label"], [(1, "cat"), (2, "dog")])
    with pytest.raises(SweeplabError, match=message):
        submission_agreement(trial, written(tmp_path / "r.csv", header, refit), "label")


def test_a_constant_probability_submission_has_no_rank_agreement(tmp_path):
    trial = written(tmp_path / "t.csv", ["id", "p"], [(1, 0.5), (2, 0.5)])
    refit = written(tmp_path / "r.csv", ["id", "p"], [(1, 0.2), (2, 0.7)])
    with pytest.raises(SweeplabError, match="the same probability everywhere"):
        submission_agreement(trial, refit, "probability")


def learning_rates(config, epochs: int, steps_per_epoch: int) -> list[float]:
    """The rate at each epoch's start, as Trainer.fit steps the schedule (per step or per epoch)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.optimizer.lr)
    schedule = build_scheduler(config.scheduler, optimizer, steps_per_epoch, config.trainer.epochs)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps_per_epoch if schedule and schedule.per_step else 1):
            optimizer.step()
            if schedule is not None:
                schedule.scheduler.step()
    return rates


@pytest.mark.parametrize(
    "scheduler",
    [
        ["scheduler=cosine"],
        ["scheduler=step"],
        ["scheduler=none"],
        ["scheduler=onecycle"],
        ["scheduler=cosine", "scheduler.interval=step", "scheduler.warmup_epochs=1"],
    ],
)
def test_a_refit_replays_its_trials_learning_rates_up_to_the_best_epoch(scheduler):
    """In epochs: the refit trains on every image, so its epochs have more steps (12 against 10)."""
    trial = compose_config([*scheduler, "trainer.epochs=10", "optimizer.lr=0.1"])
    resolved = OmegaConf.create(OmegaConf.to_yaml(trial, resolve=True))  # what config.yaml records
    recorded = Recorded("r", {"sweeplab.best_epoch": "4"}, resolved)
    refit = apply_overrides(resolved, refit_overrides(recorded))
    assert refit.trainer.epochs == 4
    # torch's OneCycleLR ends its warm-up at step pct_start x total - 1: one step off a pure function of
    # epochs, so a refit with 12 steps an epoch is within 1.1% of its trial's 10 (the others: exact).
    close = 0.02 if "scheduler=onecycle" in scheduler else 1e-6
    assert learning_rates(refit, 4, 12) == pytest.approx(learning_rates(resolved, 10, 10)[:4], rel=close)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--min-agreement", "1.5"], "--min-agreement 1.5: give a floor in [0, 1]"),
        (["--min-agreement", "nan"], "--min-agreement nan: give a floor in [0, 1]"),
        (["--force"], "--force moves the alias to the version --register makes: add --register NAME"),
    ],
)
def test_refit_flags_are_refused_before_anything_trains(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    assert sweeplab(["refit", "abc", *flags, "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # no store, no outputs


def test_submissions_without_rows_are_refused_not_scored_nan(tmp_path):
    empty = written(tmp_path / "t.csv", ["id", "label"], [])
    with pytest.raises(SweeplabError, match="holds no rows"):
        submission_agreement(empty, empty, "label")
