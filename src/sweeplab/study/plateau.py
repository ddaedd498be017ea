"""hydra.sweeper.patience: a study that ends once it stops improving (as Ray Tune's ExperimentPlateauStopper;
Optuna's Terminator is deprecated since Optuna 4.9).

The study ends when `patience` finished trials in a row (complete or pruned, in the order they finished)
have not beaten the best value by more than `min_delta`. Its default is the noise of the best trial's
value, which its job records (Attr.NOISE): the CV standard deviation with folds, the binomial standard
error of a validation accuracy, else 0. A gain smaller than that is as likely luck as progress.
"""

from dataclasses import dataclass

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from sweeplab.errors import ConfigError
from sweeplab.protocol import Attr


@dataclass(frozen=True)
class Plateau:
    patience: int
    min_delta: float | None  # None: the best trial's noise

    @classmethod
    def from_config(cls, sweeper_cfg, directions: list[str]) -> "Plateau | None":
        patience, min_delta = sweeper_cfg.get("patience"), sweeper_cfg.get("min_delta")
        if patience is None:
            if min_delta is not None:
                raise ConfigError(
                    "hydra.sweeper.min_delta needs hydra.sweeper.patience=P (P trials in a row)"
                )
            return None
        if int(patience) < 1:
            raise ConfigError(
                f"hydra.sweeper.patience={patience} must be at least 1 (or null: no early stop)"
            )
        if min_delta is not None and float(min_delta) < 0:
            raise ConfigError(
                f"hydra.sweeper.min_delta={min_delta} must be >= 0 (null: the objective's noise)"
            )
        if len(directions) > 1:
            raise ConfigError(
                f"hydra.sweeper.patience stops a single-objective study; this one has {len(directions)} "
                "objectives: remove hydra.sweeper.patience"
            )
        return cls(int(patience), None if min_delta is None else float(min_delta))

    def reason(self, study: optuna.Study) -> str | None:
        """Why the study should end now, or None while it may still improve."""
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        finished.sort(key=lambda t: (t.datetime_complete, t.number))
        maximize = study.direction == StudyDirection.MAXIMIZE
        best: FrozenTrial | None = None
        since = 0
        for trial in finished:
            if trial.state == TrialState.COMPLETE and (
                best is None or self._beats(trial.value, best, maximize)
            ):
                best, since = trial, 0
            elif best is not None:
                since += 1
        if best is None or since < self.patience:
            return None
        delta = self._delta(best)
        source = "" if self.min_delta is not None else " (its noise)"
        return (
            f"stopped early: {since} finished trials in a row did not beat trial {best.number}'s "
            f"{best.value:.4g} by more than {delta:.3g}{source} "
            f"(hydra.sweeper.patience={self.patience}, min_delta={self.min_delta})"
        )

    def _delta(self, best: FrozenTrial) -> float:
        if self.min_delta is not None:
            return self.min_delta
        return float(best.user_attrs.get(Attr.NOISE, 0.0))

    def _beats(self, value: float, best: FrozenTrial, maximize: bool) -> bool:
        delta = self._delta(best)
        return value > best.value + delta if maximize else value < best.value - delta
