"""Train once, or sweep with -m: `python train.py [-m] [group=option] [key=value ...]`."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from sweeplab.app import (
    answer_help,
    choose_competition_data,
    exit_cleanly_on_user_error,
    one_line_on_interrupt,
    refuse_bad_command_line,
    train,
)

HERE = Path(__file__).parent


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> float | list[float]:
    return train(cfg)  # torch and MLflow load only now: a refused command line answers in ~1 s


if __name__ == "__main__":
    answer_help(HERE / "conf")
    choose_competition_data(HERE / "conf")
    refuse_bad_command_line(HERE / "conf")
    with one_line_on_interrupt():
        main()
