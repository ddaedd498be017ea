"""hydra-optuna-sweeper's documented sphere example, unchanged but for the sweeper's defaults line."""

import math

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="sphere")
def sphere(cfg: DictConfig) -> float:
    if cfg.get("error"):  # the plugin's own failure switch: this trial fails on purpose
        raise RuntimeError("cfg.error is True")
    if str(cfg.get("result")) == "nan":  # Hydra reads the override `result=nan` as a float
        return math.nan
    if cfg.get("result") == "pair":
        return [1.0, 2.0]
    if cfg.get("fail_above") is not None and cfg.x > cfg.fail_above:
        raise ValueError(f"x={cfg.x} > {cfg.fail_above}")
    return cfg.x**2 + cfg.y**2


if __name__ == "__main__":
    sphere()
