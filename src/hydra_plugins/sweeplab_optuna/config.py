"""Structured configs of the sweeper, a superset of hydra-optuna-sweeper's (same keys, same groups)."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from sweeplab.protocol import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S

# The `_target_` of hydra/sweeper/sampler=motpe: the sweep refuses it before opening the storage.
MOTPE_REMOVED = "sweeplab.study.samplers.motpe_removed"


class DivergedAs(Enum):
    fail = "fail"
    pruned = "pruned"


@dataclass
class SamplerConfig:
    _target_: str = MISSING
    seed: int | None = None


@dataclass
class TPESamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.TPESampler"
    # Deprecated by Optuna 4.3-4.9; accepted for old configs, passed on only when set.
    consider_prior: bool | None = None
    prior_weight: float | None = None
    consider_magic_clip: bool | None = None
    consider_endpoints: bool | None = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool = True  # Optuna 5's default
    group: bool = False
    constant_liar: bool = True  # Optuna 5's default: parallel trials do not all sample the same point
    warn_independent_sampling: bool | None = None
    constraints_func: Any = None  # a dotpath "module.function", or a node with _target_


@dataclass
class RandomSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.RandomSampler"


@dataclass
class CmaEsSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.CmaEsSampler"
    x0: Any = None  # {param: value}; Any, since OmegaConf cannot merge a dict into a None Dict field
    sigma0: float | None = None
    n_startup_trials: int = 1
    independent_sampler: Any = None  # a node with _target_, e.g. optuna.samplers.RandomSampler
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: str | None = None  # ignored since Optuna 4.4; accepted for old configs
    popsize: int | None = None
    inc_popsize: int = -1  # Optuna 5's default (hydra-optuna-sweeper 1.3: 2, used only with a restart)
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False
    source_trials: Any = None


@dataclass
class NSGAIISamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: int = 50
    mutation_prob: float | None = None
    mutation: Any = None  # a node with _target_, e.g. optuna.samplers.nsgaii.PolynomialMutation
    crossover: Any = None  # a node with _target_, e.g. optuna.samplers.nsgaii.SBXCrossover
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5
    constraints_func: Any = None


@dataclass
class NSGAIIISamplerConfig(NSGAIISamplerConfig):
    _target_: str = "optuna.samplers.NSGAIIISampler"
    reference_points: list[list[float]] | None = None  # one point per row, one column per objective
    dividing_parameter: int = 3


@dataclass
class GPSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.GPSampler"
    independent_sampler: Any = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False
    constraints_func: Any = None
    warn_independent_sampling: bool = True


@dataclass
class QMCSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: str = "sobol"
    scramble: bool = False
    independent_sampler: Any = None
    warn_asynchronous_seeding: bool = True
    warn_independent_sampling: bool = True


@dataclass
class GridSamplerConfig(SamplerConfig):
    """The grid is built from the search space: every value of every choice/range, once."""

    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True  # the official plugin's: the search space is added at sweep start


@dataclass
class BruteForceSamplerConfig(SamplerConfig):
    """Every combination of a discrete search space, once (the space need not be known in advance)."""

    _target_: str = "optuna.samplers.BruteForceSampler"
    avoid_premature_stop: bool = False


@dataclass
class MOTPESamplerConfig(SamplerConfig):
    """Removed from Optuna (4.0): kept so that old configs compose, then are refused in one line."""

    _target_: str = MOTPE_REMOVED
    consider_prior: bool = True
    prior_weight: float = 1.0
    consider_magic_clip: bool = True
    consider_endpoints: bool = False
    n_startup_trials: int = 10
    n_ehvi_candidates: int = 24


@dataclass
class PrunerConfig:
    _target_: str | None = None  # None: no pruning


@dataclass
class MedianPrunerConfig:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConfig(MedianPrunerConfig):
    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0


@dataclass
class SuccessiveHalvingPrunerConfig:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConfig:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class PatientPrunerConfig:
    """Waits `patience` epochs without improvement before asking the wrapped pruner."""

    _target_: str = "optuna.pruners.PatientPruner"
    wrapped_pruner: Any = field(default_factory=lambda: {"_target_": "optuna.pruners.MedianPruner"})
    patience: int = 1
    min_delta: float = 0.0


@dataclass
class WilcoxonPrunerConfig:
    """Prunes a k-fold trial on its per-fold scores (data.folds=K, K >= 5 in practice; refused below 4):
    the job reports one value per finished fold instead of one per epoch. With p_threshold=0.1 the
    smallest p-value Wilcoxon's signed-rank test can give after 2, 3, 4 folds is 0.25, 0.125, 0.0625, so
    a trial can be pruned from its 4th fold on."""

    _target_: str = "optuna.pruners.WilcoxonPruner"
    p_threshold: float = 0.1
    n_startup_steps: int = 2


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.sweeplab_optuna.sweeper.OptunaSweeper"
    _recursive_: bool = False  # the sweeper builds sampler and pruner itself (re-seeded per resume)
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}])

    sampler: Any = MISSING
    pruner: Any = MISSING  # MISSING, not None: the defaults list's choice must not be overwritten
    # or a list, one per objective; null: a sweeplab job's objective says (val/score follows data.metric),
    # any other app minimises, as with the official plugin
    direction: Any = None
    storage: str | None = None  # None: the SQLite file mlruns/optuna.db
    # None: the experiment's name (the competition folder's, or `name=`) + a signature of search space
    # and directions
    study_name: str | None = None
    n_trials: int = 20  # finished (complete or pruned) trials the study should hold
    n_jobs: int = 2  # trials running at once (slots): a new one starts the moment one ends
    max_failure_rate: float = 0.0  # stop once failed trials exceed this share of n_trials
    search_space: dict[str, Any] | None = None  # the older mapping form
    params: dict[str, str] | None = None
    custom_search_space: str | None = None  # "module.function(cfg, trial)" adding suggestions
    # sweeplab additions
    diverged_as: DivergedAs = DivergedAs.fail  # how a trial whose loss became NaN/inf is recorded
    retry_stale_trials: int = 0  # re-run a trial killed mid-way (stale heartbeat) up to this often
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int = GRACE_PERIOD_S
    mlflow: bool = True  # parent run per study, child run per trial
    # Slots: min(n_jobs, the launcher's own n_jobs, devices x trials_per_device). Each slot gets
    # max(1, cores // slots) torch and decoding threads (trainer.num_threads overrides).
    batched: bool = False  # true: today's batches of n_jobs, each waiting for its slowest trial
    devices: list[str] | None = None  # GPU ids for the slots, e.g. [0, 1]; None: every visible GPU, else cpu
    trials_per_device: int = 1  # slots per device: >1 shares a GPU between small trials
    patience: int | None = None  # stop after this many finished trials in a row without a better value
    min_delta: float | None = None  # better = by more than this; None: the objective's noise (docs)
    # Configs run first, e.g. [{optimizer.lr: 3e-4, trainer.batch_size: 64}]: each a trial of this study
    enqueue: list[Any] = field(default_factory=list)
    warm_start_from: str | None = None  # a study in the same storage: its best configs run first
    warm_start_top: int = 5


def store_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="sweeplab")
    options = {
        "hydra/sweeper/sampler": {
            "gp": GPSamplerConfig,
            "tpe": TPESamplerConfig,
            "random": RandomSamplerConfig,
            "cmaes": CmaEsSamplerConfig,
            "nsgaii": NSGAIISamplerConfig,
            "nsgaiii": NSGAIIISamplerConfig,
            "qmc": QMCSamplerConfig,
            "grid": GridSamplerConfig,
            "bruteforce": BruteForceSamplerConfig,
            "motpe": MOTPESamplerConfig,
        },
        "hydra/sweeper/pruner": {
            "none": PrunerConfig,
            "median": MedianPrunerConfig,
            "percentile": PercentilePrunerConfig,
            "successive_halving": SuccessiveHalvingPrunerConfig,
            "hyperband": HyperbandPrunerConfig,
            "patient": PatientPrunerConfig,
            "wilcoxon": WilcoxonPrunerConfig,
        },
    }
    for group, nodes in options.items():
        for name, node in nodes.items():
            cs.store(group=group, name=name, node=node, provider="sweeplab")


store_configs()
