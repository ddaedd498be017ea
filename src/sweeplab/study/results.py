"""hydra-optuna-sweeper's results: `optimization_results.yaml` in hydra.sweep.dir and its log lines.

The same file and lines as the official plugin (its downstream scripts and tests read them), written
at the end of every sweep that ends normally, a resumed one included, over all the study's trials.
"""

import logging
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

log = logging.getLogger(__name__)
RESULTS_FILE = "optimization_results.yaml"


def results_of(study: optuna.Study) -> dict[str, Any] | None:
    """The file's content; None for a single objective with no completed trial (no best to name)."""
    if len(study.directions) > 1:
        solutions = [{"params": t.params, "values": t.values} for t in study.best_trials]
        return {"name": "optuna", "solutions": solutions}
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    return {"name": "optuna", "best_params": best.params, "best_value": best.value}


def four_digits(value: float) -> float:
    """A score as log lines show it: 4 significant digits, still printed as a float (1.0, 0.5854)."""
    return float(f"{value:.4g}")


def log_results(results: dict[str, Any] | None) -> None:
    """The official plugin's lines, with scores at 4 significant digits (the results file keeps them
    exact)."""
    if results is None:
        log.info("No trial completed: no best parameters, %s not written", RESULTS_FILE)
    elif "solutions" in results:
        log.info(f"Number of Pareto solutions: {len(results['solutions'])}")
        for t in results["solutions"]:
            log.info(f"    Values: {[four_digits(v) for v in t['values']]}, Params: {t['params']}")
    else:
        log.info(f"Best parameters: {results['best_params']}")
        log.info(f"Best value: {four_digits(results['best_value'])}")


def write_results(study: optuna.Study, sweep_dir: str | Path) -> Path | None:
    results = results_of(study)
    log_results(results)
    if results is None:
        return None
    path = Path(sweep_dir) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)  # a resumed sweep with nothing left launched no job
    OmegaConf.save(OmegaConf.create(results), path)
    return path
