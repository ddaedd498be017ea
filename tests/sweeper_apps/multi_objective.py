"""hydra-optuna-sweeper's documented multi-objective (binh and korn) example."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="multi_objective")
def binh_and_korn(cfg: DictConfig) -> tuple[float, float]:
    x, y = cfg.x, cfg.y
    v0 = 4 * x**2 + 4 * y**2
    v1 = (x - 5) ** 2 + (y - 5) ** 2
    if not 0 <= x <= 5 or not 0 <= y <= 3:
        # Out of the constraints: the example returns None to fail the trial.
        return None
    return v0, v1


if __name__ == "__main__":
    binh_and_korn()
