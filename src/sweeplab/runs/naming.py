"""What a training job's MLflow run is called and tagged with: a name that says what differs from its
neighbours in the UI's narrow name column, and tags that say what it ran on, with what inputs, and (for a
trial) in which study."""

import json
import os
from pathlib import Path
from typing import Protocol

import torch
from omegaconf import DictConfig

from sweeplab.data import ImageData
from sweeplab.data.augment import Stats
from sweeplab.models.weights import Weights
from sweeplab.protocol import Role, Tag
from sweeplab.runs.provenance import GitState, provenance_tags

# Left out of run names: where things are kept, and what the experiment's name already says (the
# competition), so the MLflow UI's narrow name column starts with what differs between its runs.
UNNAMED_KEYS = ("tracking.uri", "data.cache_dir", "model.weights_path", "data", "data.root", "name")
MAX_NAME = 250  # MLflow's limit on a run name


class NamedTrial(Protocol):
    """What a run's name and tags say of the study's trial it is (sweeplab.training.hooks.Trial)."""

    study_name: str
    number: int
    storage_url: str


def run_name(overrides: list[str], default: str, trial: NamedTrial | None) -> str:
    """What differs, readably: `STUDY #N` for a trial, else the overrides with paths cut to their last
    part (the competition and the store's and cache's locations left out), else the config's name."""
    if trial is not None:
        return f"{trial.study_name} #{trial.number}"
    shown = []
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") in UNNAMED_KEYS or key.startswith(("study.", "hydra")):
            continue  # where things are kept, how the sweep ran: not what the run is
        path = value.startswith(("/", "~", "./", "../"))
        shown.append(f"{key}={Path(value).name}" if path else override)
    return " ".join(shown)[:MAX_NAME] or default


def run_tags(
    cfg: DictConfig,
    *,
    overrides: list[str],
    data: ImageData,
    device: torch.device,
    deterministic: bool,
    threads: int,
    feature_cache: str,
    submission_format: str,
    stats: Stats | None,
    weights: Weights | None,
    git: GitState | None,
    trial: NamedTrial | None,
) -> dict[str, str]:
    """Every tag a training job's run starts with: its inputs, where it ran, its provenance and study."""
    tags = {
        Tag.OVERRIDES: " ".join(o for o in overrides if not o.startswith("study.")),
        Tag.DATA_FINGERPRINT: data.fingerprint,
        Tag.CACHE_KEYS: ",".join(data.cache_keys),
        Tag.DEVICE: str(device),
        Tag.DETERMINISTIC: str(deterministic),
        Tag.FEATURE_CACHE: feature_cache,
        Tag.COMPETITION: data.competition.description,
        Tag.SUBMISSION_FORMAT: submission_format,
        Tag.THREADS: str(threads),
        # Which GPUs this process could see: a pool's slot starts its worker with its own.
        Tag.VISIBLE_DEVICES: os.environ.get("CUDA_VISIBLE_DEVICES", "all"),
        **input_tags(stats, weights),
        **provenance_tags(cfg, git),
    }
    if trial is not None:
        tags |= trial_tags(trial, cfg.study)
    return tags


def input_tags(stats: Stats | None, weights: Weights | None) -> dict[str, str]:
    """The normalisation the model saw and the pretrained weights' identity."""
    tags = {
        Tag.INPUT_MEAN: json.dumps([round(v, 6) for v in stats[0]]) if stats else "none",
        Tag.INPUT_STD: json.dumps([round(v, 6) for v in stats[1]]) if stats else "none",
    }
    if weights is not None:
        tags |= {
            Tag.WEIGHTS: weights.name,
            Tag.WEIGHTS_SHA256: str(weights.sha256),
            Tag.WEIGHTS_FILE: str(weights.path),
        }
    return tags


def trial_tags(trial: NamedTrial, study_cfg: DictConfig) -> dict[str, str]:
    """Which study, trial, parent run and slot a trial's run belongs to."""
    tags = {
        Tag.STUDY: trial.study_name,
        Tag.ROLE: Role.TRIAL,
        Tag.TRIAL: str(trial.number),
        Tag.STUDY_STORAGE: trial.storage_url,
    }
    if study_cfg.parent_run_id:
        tags[Tag.PARENT_RUN] = study_cfg.parent_run_id
    if study_cfg.get("slot") is not None:
        tags[Tag.SLOT] = str(study_cfg.slot)
    return tags
