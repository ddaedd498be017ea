"""The names the sweep process, the jobs and the commands exchange: MLflow tags, Optuna attributes, metrics.

Frozen: `sweeplab compare`, `rerun`, `kaggle`, reruns of old runs and users' dashboards read these
names. Add new ones; never rename one (docs/configuration.md's run-contents table lists them).
"""

from dataclasses import dataclass


class Tag:
    """MLflow run tags."""

    ROLE = "sweeplab.role"  # Role.*: which kind of run this is
    STUDY = "sweeplab.study"  # the study's name, on its parent run and on every trial run
    TRIAL = "sweeplab.trial"  # the trial's number
    STUDY_STORAGE = "sweeplab.study_storage"  # the study's storage URL (password redacted), on trials
    TRIAL_STATE = "sweeplab.trial_state"  # COMPLETE / PRUNED / FAIL, set by the sweep when told
    PARENT_RUN = "mlflow.parentRunId"  # MLflow's own: nests trial runs under the study's run in the UI
    # the study's parent run
    STORAGE = "sweeplab.storage"
    DIRECTIONS = "sweeplab.directions"
    SAMPLER = "sweeplab.sampler"
    PRUNER = "sweeplab.pruner"
    SEARCH_SPACE = "sweeplab.search_space"
    BEST_TRIAL = "sweeplab.best_trial"
    BEST_PARAM_PREFIX = "best."  # best.<param> = value
    OPTUNA_PARAM_PREFIX = "optuna.param."  # optuna.param.<param> = value, on trial runs
    # every training run
    OVERRIDES = "sweeplab.overrides"
    COMMAND = "sweeplab.command"
    DATA_FINGERPRINT = "sweeplab.data.fingerprint"
    CACHE_KEYS = "sweeplab.data.cache_keys"
    DEVICE = "sweeplab.device"
    DETERMINISTIC = "sweeplab.deterministic"
    AMP = "sweeplab.amp"
    SEED_GLOBAL = "sweeplab.seed.global"
    SEED_SPLIT = "sweeplab.seed.split"
    GIT_COMMIT = "sweeplab.git.commit"
    GIT_BRANCH = "sweeplab.git.branch"
    GIT_DIRTY = "sweeplab.git.dirty"
    VERSION_PREFIX = "sweeplab.version."  # sweeplab.version.<package>
    WEIGHTS = "sweeplab.weights"  # the pretrained weights' name (ResNet50_Weights.IMAGENET1K_V2), if any
    WEIGHTS_SHA256 = "sweeplab.weights.sha256"  # of the weights file loaded
    WEIGHTS_FILE = "sweeplab.weights.file"
    INPUT_MEAN = "sweeplab.input.mean"  # the normalisation the model saw (augmentation.normalize resolved)
    INPUT_STD = "sweeplab.input.std"
    FEATURE_CACHE = "sweeplab.feature_cache"  # hit | miss | off: a frozen backbone's features from the cache
    BEST_EPOCH = "sweeplab.best_epoch"
    # Older runs: the batch after out-of-memory retries halved it. Since #31 a retry halves the micro-batch.
    BATCH_SIZE_RAN = "sweeplab.batch_size_ran"
    MICRO_BATCH = "sweeplab.micro_batch"  # the micro-batch that ran: trainer.micro_batch or an OOM retry's
    OBJECTIVE = "sweeplab.objective"
    COMPETITION = "sweeplab.competition"  # what discovery found: labels, training and test images
    SUBMISSION_FORMAT = "sweeplab.submission_format"  # label | probability | probabilities | tags | top_k
    THRESHOLDS = "sweeplab.thresholds"  # multi-label: the best epoch's per-class thresholds, JSON
    PRUNED = "sweeplab.pruned"
    SLOT = "sweeplab.slot"  # the sweep's slot (0..slots-1) the trial ran in
    VISIBLE_DEVICES = "sweeplab.visible_devices"  # CUDA_VISIBLE_DEVICES of the trial's process, or "all"
    THREADS = "sweeplab.threads"  # torch and decoding threads the trial ran with
    STOP_REASON = "sweeplab.stop_reason"  # on a study's parent run: why the sweep ended before n_trials
    PRUNED_EPOCH = "sweeplab.pruned_epoch"
    ERROR = "sweeplab.error"
    # commands
    RERUN_OF = "sweeplab.rerun_of"
    RERUN_OVERRIDES = "sweeplab.rerun_overrides"
    KAGGLE_SOURCE = "sweeplab.kaggle.source"
    KAGGLE_SUBMISSION = "sweeplab.kaggle.submission"
    KAGGLE_EPOCH = "sweeplab.kaggle.epoch"
    KAGGLE_COMPETITION = "sweeplab.kaggle.competition"
    REFIT_OF = "sweeplab.refit_of"  # `sweeplab refit`: the trial run whose config was trained on all data
    ENSEMBLE_OF = "sweeplab.ensemble_of"  # `sweeplab ensemble`: the member run ids, comma-separated
    ENSEMBLE_METHOD = "sweeplab.ensemble_method"  # mean | weighted | rank
    ENSEMBLE_WEIGHTS = "sweeplab.ensemble_weights"


class Role:
    """Values of Tag.ROLE."""

    STUDY = "study"  # a study's parent run
    TRIAL = "trial"
    COMPARISON = "comparison"  # `sweeplab compare`'s report
    REFIT = "refit"  # `sweeplab refit` of a study's trial: in the study's compare table, not a trial
    ENSEMBLE = "ensemble"  # `sweeplab ensemble`
    LR_FIND = "lr-find"  # `python train.py lr_find=true`: the range test's plot, left out of compare


class Attr:
    """Optuna user attributes of studies and trials."""

    # study
    PRUNER = "sweeplab.pruner"  # the pruner's config: the job rebuilds the pruner from it
    SEARCH_SPACE = "sweeplab.search_space"  # refuses a resume with another search space
    OBJECTIVE = "sweeplab.objective"  # "val/score (accuracy)": refuses a resume for another objective
    PARENT_RUN = "sweeplab.mlflow_parent_run_id"
    # trial
    RUN = "sweeplab.mlflow_run_id"  # set by the job
    WORKER = "sweeplab.worker"  # host:pid of the sweep process that ran the trial
    SURPLUS = "sweeplab.surplus"  # asked in a race with other workers after n_trials was reached
    REASON = "sweeplab.reason"  # why a trial failed or was pruned
    NOISE = "sweeplab.noise"  # set by the job: its objective's noise (CV std, binomial s.e.), for min_delta
    ENQUEUED = "sweeplab.enqueued"  # "enqueue" or "warm_start_from STUDY #N": a config asked to run first


class Metric:
    """MLflow metric keys; per-epoch ones are logged with step = epoch."""

    TRAIN_LOSS, TRAIN_ACC = "train/loss", "train/acc"
    VAL_LOSS, VAL_ACC, VAL_SCORE = "val/loss", "val/acc", "val/score"
    VAL_SCORE_RAW = "val/score_raw"  # the raw model's val/score beside the averaged (EMA) one's
    KAGGLE_PUBLIC, KAGGLE_PRIVATE = "kaggle/public", "kaggle/private"
    GAP = "gap/val_minus_public"
    LR = "lr"
    TRAIN_STEPS = "train/steps"  # optimizer steps so far, at each epoch's end
    OBJECTIVE = "objective"
    FIT_SECONDS = "time/fit_s"
    DATA_PREFIX = "data/"  # data/train_images, data/val_images, ... at step 0
    TRIALS_PREFIX = "trials/"  # trials/complete, trials/pruned, trials/fail on a study's parent run
    BEST_VALUE = "best_value"  # on a study's parent run
    # Reserved for k-fold validation: fold<i>/val/acc, ... and the spread of the score across folds.
    FOLD_PREFIX = "fold"
    CV_STD = "cv/std"
    OOF_SCORE = "oof/score"  # once, at the last epoch's step
    # `sweeplab refit`: on the refit run, its submission's agreement with its trial's (no labels needed)
    REFIT_AGREEMENT = "refit/agreement"

    @staticmethod
    def fold(i: int, key: str) -> str:
        """fold<i>/val/acc, ...: one fold's own per-epoch metrics."""
        return f"{Metric.FOLD_PREFIX}{i}/{key}"

    EPOCH = (TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, VAL_SCORE)
    TEST = (KAGGLE_PUBLIC, KAGGLE_PRIVATE, GAP)  # need a solution.csv


# A running trial beats this often; one silent for the grace period is taken as dead (its process died).
HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 30


@dataclass
class StudyConfig:
    """The job's `study:` block: set per trial by the sweeper (as overrides), null outside a study."""

    name: str | None = None
    storage: str | None = None
    trial_id: int | None = None
    number: int | None = None
    parent_run_id: str | None = None
    slot: int | None = None  # the sweep's slot running this trial
    threads: int | None = None  # the slot's share of the cores (trainer.num_threads overrides)


class Artifact:
    """Artifact paths other commands read (kaggle submit/record, ensemble)."""

    SUBMISSION = "submissions/submission_{epoch}.csv"  # epoch: best | last
    TEST_PROBS = "predictions/test_probs_{epoch}.npz"  # probs (test-id order) and ids
    VAL_PROBS = "predictions/val_probs.npz"  # probs, rows (train image indices), labels; out-of-fold
    THRESHOLDS = "predictions/thresholds.json"  # multi-label: classes, best and last epoch's thresholds
    CONFIG = "config.yaml"
    MODEL = "model"  # the run's MLflow model (runs:/ID/model), beside the weights' frozen names


def study_overrides(name: str, storage: str, trial_id: int, number: int) -> list[str]:
    """The `study.*` overrides the sweeper gives each trial's job."""
    return [
        f"study.name={quoted(name)}",
        f"study.storage={quoted(storage)}",
        f"study.trial_id={trial_id}",
        f"study.number={number}",
    ]


def study_runs_filter(study: str, role: str) -> str:
    """The MLflow search filter for a study's runs of one role."""
    return f"tags.`{Tag.STUDY}` = '{study}' and tags.`{Tag.ROLE}` = '{role}'"


def quoted(value: str) -> str:
    """A string as the value of a Hydra override the sweep gives a job: any character survives the parser."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
