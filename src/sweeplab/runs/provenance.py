"""What a run needs to be run again: code version, package versions, seeds, command line."""

import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sweeplab.protocol import Tag

PACKAGES = ("torch", "torchvision", "hydra-core", "omegaconf", "optuna", "mlflow", "sweeplab")
CODE_DIR = Path(__file__).resolve().parent  # the git checkout that holds the code that ran


@dataclass(frozen=True)
class GitState:
    commit: str
    branch: str
    dirty: bool
    diff: str  # uncommitted changes (tracked files), empty when clean


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout


def git_state(folder: Path | None = None) -> GitState | None:
    """The checkout's commit, branch and uncommitted diff; None outside a git checkout."""
    folder = folder or CODE_DIR
    try:
        commit = _git(folder, "rev-parse", "HEAD").strip()
        branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD").strip()
        dirty = bool(_git(folder, "status", "--porcelain", "--untracked-files=no").strip())
        diff = _git(folder, "diff", "HEAD") if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        return None
    return GitState(commit, branch, dirty, diff)


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance_tags(cfg, git: GitState | None) -> dict[str, str]:
    """Tags recorded on every run (and compared by `sweeplab rerun`)."""
    tags = {Tag.VERSION_PREFIX + name: version for name, version in package_versions().items()}
    tags.update(
        {
            Tag.COMMAND: " ".join(sys.argv)[:5000],
            # One seed drives model init, shuffling and augmentation; the split has its own.
            Tag.SEED_GLOBAL: str(cfg.trainer.seed),
            Tag.SEED_SPLIT: str(cfg.data.split_seed),
            Tag.AMP: str(cfg.trainer.amp),
        }
    )
    if git is not None:
        tags.update(
            {
                Tag.GIT_COMMIT: git.commit,
                Tag.GIT_BRANCH: git.branch,
                Tag.GIT_DIRTY: str(git.dirty),
            }
        )
    return tags
