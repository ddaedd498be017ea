"""`python train.py --help`: sweeplab's own page, every group's options with a line each, nothing internal."""

import re

import pytest
from omegaconf import OmegaConf

from helpers import ROOT, compose_config
from sweeplab.app import COMMON_KEYS, help_text

CONF = ROOT / "conf"


def test_every_option_of_every_group_has_its_line_and_the_defaults_are_starred():
    text = help_text(CONF, ROOT / "experiments")
    groups = {p.name: p for p in CONF.iterdir() if p.is_dir()} | {"experiment": ROOT / "experiments"}
    for group, folder in groups.items():
        assert f"\n  {group}\n" in text
        for option in folder.glob("*.yaml"):
            # Each option has a description: its file's first comment.
            assert re.search(rf"^    {option.stem}( \*)? +\S", text, re.M), option
    for starred in ("seed_cnn_mini *", "demo *", "val_score *", "adam *", "default *", "local *"):
        assert f"    {starred} " in text
    for internal in ("schemas", "base_", "study.name", "study.trial_id", "simulate", "parent_run"):
        assert internal not in text


@pytest.mark.parametrize(("usage", "what"), COMMON_KEYS)
def test_each_common_key_is_a_key_of_the_config(usage, what):
    groups = [w for w in usage.split() if "/" in w and "=" in w]  # hydra/sweeper=optuna
    if "hydra.sweeper." in usage and "hydra/sweeper=optuna" not in groups:
        groups.append("hydra/sweeper=optuna")
    keys = [w.split("=")[0] for w in usage.replace("|", " ").split() if "." in w.split("=")[0]]
    model = "model=timm" if "model.arch" in usage else "model=seed_cnn"
    cfg = compose_config([*groups, model], with_hydra=True)
    assert keys
    for key in keys:
        assert OmegaConf.select(cfg, key, default="absent") != "absent", key
