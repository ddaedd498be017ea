"""Train once, or sweep with -m: `python train.py [-m] [group=option] [key=value ...]`."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from sweeplab.cli import exit_cleanly_on_user_error
from sweeplab.config import register_configs
from sweeplab.job import run

register_configs(Path(__file__).parent / "experiments")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> float:
    return run(cfg)


if __name__ == "__main__":
    main()
