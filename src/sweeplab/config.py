"""Typed schemas for every config group: a typo, a wrong type or an unknown choice fails at compose time."""

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from sweeplab.protocol import StudyConfig

# Closed choices are enums: Hydra refuses any other value at compose time, before an image is decoded.
# StrEnum members equal their strings, so code and recorded configs compare them as plain strings.


class DataSource(StrEnum):
    demo = "demo"  # the embedded digits competition
    kaggle = "kaggle"  # a competition folder at data.root


class CompetitionMetric(StrEnum):
    accuracy = "accuracy"
    macro_f1 = "macro_f1"
    roc_auc = "roc_auc"  # binary competitions: the positive class's probability
    log_loss = "log_loss"  # clipped to [1e-15, 1 - 1e-15] and rows normalised, as Kaggle scores it
    mean_columnwise_roc_auc = "mean_columnwise_roc_auc"  # one ROC AUC per class column, averaged
    mean_f2 = "mean_f2"  # F-beta (beta 2) of each image's tags, averaged over images
    quadratic_weighted_kappa = "quadratic_weighted_kappa"  # ordinal grades (classes in numeric order)
    map_at_k = "map_at_k"  # mean average precision of the top data.top_k labels (one true label)


class Task(StrEnum):
    auto = "auto"  # multilabel when one-hot label columns hold several 1s in a row, else multiclass
    multiclass = "multiclass"  # one label per image: softmax, cross-entropy
    multilabel = "multilabel"  # any number of tags per image: one sigmoid each, BCE-with-logits


class SubmissionFormat(StrEnum):
    label = "label"  # one column: the predicted class, written as the sample writes it
    probability = "probability"  # one column: the positive class's probability (binary)
    probabilities = "probabilities"  # one column per class (the sample's class-named columns)
    tags = "tags"  # one column: the predicted tags, space-separated
    top_k = "top_k"  # one column: the data.top_k most likely labels, space-separated (map_at_k)


class ModelLibrary(StrEnum):
    torchvision = "torchvision"  # any of torchvision.models.list_models(module=torchvision.models)
    timm = "timm"  # any timm model name (the optional extra: pip install -e ".[timm]")


class Normalize(StrEnum):
    none = "none"
    dataset = "dataset"  # per-channel mean/std of the training images
    imagenet = "imagenet"  # ImageNet's, for pretrained backbones
    auto = "auto"  # the pretrained weights' own mean/std; none without pretrained weights


# torch.compile's modes have hyphens, which only the functional form allows as member names.
CompileMode = StrEnum(
    "CompileMode",
    {m: m for m in ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")},
)


class TTAView(StrEnum):
    hflip = "hflip"  # mirrored left-right
    vflip = "vflip"  # upside down


@dataclass
class DataConfig:
    name: DataSource = MISSING
    root: str | None = None  # competition folder; the demo materialises into the cache when unset
    img_size: int = 48
    # With folds=1: the share held out for validation; 0 trains on every labelled image with no
    # validation at all (a refit: no objective, cannot be a study trial).
    val_fraction: float = 0.2
    split_seed: int = 0  # separate from trainer.seed so a seed sweep keeps one validation set
    # k-fold cross-validation: K stratified folds (seeded by split_seed, the same for every trial), one
    # model per fold; 1 is the holdout of val_fraction. fold=i trains fold i only (parallel fold jobs).
    folds: int = 1
    fold: int | None = None
    # Decoding threads when the image cache is built; null: every core this process may use
    # (os.sched_getaffinity), resolved at run time so a recorded config stays portable.
    num_workers: int | None = None
    # A stratified, seeded (split_seed) fraction of the training images, drawn after the validation
    # split (which stays whole): sweep on 0.2, refit the winner on 1.0.
    train_subset: float = 1.0
    cache: bool = True
    cache_dir: str = "~/.cache/sweeplab"
    max_corrupt_fraction: float = 0.05
    metric: CompetitionMetric = CompetitionMetric.accuracy  # the competition's (validation is scored alike)
    # What the competition folder holds is discovered (class folders, LABEL.N names, or a labels CSV
    # whose id column names image files); these keys only settle what discovery cannot.
    task: Task = Task.auto
    label_delim: str = " "  # between the tags of one image in a tags column (data.task=multilabel)
    labels_csv: str | None = None  # the labels CSV, relative to data.root (e.g. train_labels.csv)
    id_column: str | None = None  # the labels CSV's column of image ids (file names, with or without suffix)
    label_column: Any = None  # its label column, or a list of one-hot columns (one per class)
    train_dir: str | None = None  # the folder of the training images, relative to data.root
    test_dir: str | None = None  # the folder of the test images (may be train_dir's, as Plant Pathology's)
    image_suffix: str | None = None  # appended to ids that name files without their extension (.png)
    submission_format: SubmissionFormat | None = None  # null: inferred from the sample and the metric
    top_k: int = 5  # labels per row of a top_k submission (map_at_k)
    # Per-class decision thresholds of a multi-label run; null: tuned on validation every epoch. A refit
    # (no validation) takes those of the run it refits.
    thresholds: list[float] | None = None


@dataclass
class SeedCNNConfig:
    name: str = "seed_cnn"
    channels: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 128, 256])
    kernel_size: int = 5
    fc: list[int] = field(default_factory=lambda: [1000, 500, 100])
    dropout: float = 0.0


@dataclass
class BackboneConfig:
    """A torchvision or timm classification model with a new head sized from the data's classes."""

    name: ModelLibrary = MISSING
    arch: str = MISSING  # an open set: checked against the library's model list before the data is read
    # true: the arch's default weights; null: pretrained exactly when model.weights is set.
    pretrained: bool | None = None
    weights: str | None = None  # torchvision: a weights enum member (IMAGENET1K_V2); timm: a tag (in1k)
    weights_path: str | None = None  # a local weights file, used instead of the hub cache or a download
    weights_url: str | None = None  # a full URL or a mirror's base URL (else $SWEEPLAB_WEIGHTS_MIRROR)
    freeze_backbone: bool = False
    unfreeze_at_epoch: int | None = None  # with freeze_backbone: the epoch from which everything trains
    feature_cache: bool = True  # frozen all run, deterministic augmentation: backbone features once
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the builder, e.g. drop_path_rate


@dataclass
class AdamConfig:
    _target_: str = "torch.optim.Adam"
    lr: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    backbone_lr_scale: float = 1.0  # a pretrained backbone trains at lr x this (the head at lr)
    no_decay_norm_bias: bool = False  # no weight decay on norm weights and biases (timm's, AutoGluon's)


@dataclass
class SGDConfig:
    _target_: str = "torch.optim.SGD"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    backbone_lr_scale: float = 1.0
    no_decay_norm_bias: bool = False


class Interval(StrEnum):
    epoch = "epoch"  # the schedule moves once per epoch (before #31, every schedule)
    step = "step"  # once per optimizer step: the same curve in epochs, smooth within them


# The schedules' own keys (interval, warmup_epochs, a one-cycle's epochs) are sweeplab's, never passed to
# torch; lengths are in epochs (fractions allowed per step), so a refit that stops early replays the
# trial's curve, not a squeezed one.
@dataclass
class SchedulerConfig:
    _target_: str | None = None  # None: constant learning rate
    interval: Interval = Interval.epoch
    warmup_epochs: float = 0.0  # linear from 1% of the rate, then the schedule over the remaining epochs


@dataclass
class CosineSchedulerConfig:
    _target_: str = "torch.optim.lr_scheduler.CosineAnnealingLR"
    T_max: int = MISSING  # epochs
    eta_min: float = 0.0
    interval: Interval = Interval.epoch
    warmup_epochs: float = 0.0


@dataclass
class StepSchedulerConfig:
    _target_: str = "torch.optim.lr_scheduler.StepLR"
    step_size: int = 1  # epochs
    gamma: float = 0.5
    interval: Interval = Interval.epoch
    warmup_epochs: float = 0.0


@dataclass
class OneCycleSchedulerConfig:
    """fastai's fit_one_cycle on torch's OneCycleLR: each parameter group peaks at its own lr."""

    _target_: str = "torch.optim.lr_scheduler.OneCycleLR"
    epochs: int = MISSING  # the cycle's length: trainer.epochs, or a trial's for its refit
    pct_start: float = 0.25  # fastai's; torch's own default is 0.3
    div_factor: float = 25.0  # starts at lr / 25
    final_div_factor: float = 1e5  # ends at lr / 25 / 1e5
    anneal_strategy: str = "cos"
    cycle_momentum: bool = True  # momentum (Adam's beta1) 0.95 -> 0.85 -> 0.95, as fastai's moms
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    three_phase: bool = False
    interval: Interval = Interval.step
    warmup_epochs: float = 0.0  # refused above 0: the cycle warms up itself (pct_start)


@dataclass
class AugmentationConfig:
    hflip: float = 0.0  # probability per image
    vflip: float = 0.0
    crop_scale_min: float = 1.0  # random resized crop keeps this..1.0 of the area; 1.0 turns it off
    crop_ratio: list[float] = field(default_factory=lambda: [3 / 4, 4 / 3])
    normalize: Normalize = Normalize.auto
    transforms: list[Any] = field(default_factory=list)  # extra torchvision.transforms.v2, per image
    # Mixup and CutMix (0: off), drawn per image on the batch: each mixed with probability mix_prob, up
    # to and including epoch mix_until_epoch (null: every epoch); both on: each mixed image takes one.
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0
    mix_until_epoch: int | None = None


@dataclass
class TrainerConfig:
    epochs: int = 3
    batch_size: int = 100
    eval_batch_size: int | None = None  # None: 2 x batch_size (no gradients, so twice fits)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = False  # bf16 autocast on CUDA
    channels_last: bool = False
    compile: bool = False  # torch.compile the model (needs a C++ compiler on the CPU; slow first epoch)
    compile_mode: CompileMode = CompileMode.default
    deterministic: bool | None = None  # None: on for CPU, off for CUDA
    progress: bool | None = None  # epoch and cache progress bars; null: only when stderr is a terminal
    # The batch is split into micro-batches of this many images whose gradients add up to the batch's
    # (one optimizer step per batch); null: the whole batch at once.
    micro_batch: int | None = None
    oom_retry: bool = False  # on CUDA out-of-memory, start again with half the micro-batch (same batch)
    # Cross-entropy against (1 - e) on the label and e spread over all classes; for tags, BCE against
    # 1 - e/2 and e/2. 0: off (fastai's LabelSmoothingCrossEntropy and timm use 0.1).
    label_smoothing: float = 0.0
    grad_clip: float | None = None  # the gradients' largest total L2 norm per step; null: not clipped
    # The weights' exponential moving average (e.g. 0.999), warmed up as timm's ModelEmaV3, is what is
    # validated, submitted and logged; null: the raw weights.
    ema_decay: float | None = None
    # torch's threads and data.num_workers' default; None: the sweep slot's share of the cores, else torch's
    num_threads: int | None = None
    # Test-time augmentation: predictions averaged over the image and these views, for validation and
    # test alike (so val/score measures what is submitted).
    tta: list[TTAView] = field(default_factory=list)


@dataclass
class TrackingConfig:
    uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else the SQLite store in ./mlruns/
    experiment: str | None = None  # None: the job's `name`
    log_model: bool = True


@dataclass
class ObjectiveConfig:
    metric: Any = "val/score"  # a metric name, or a list of them for a multi-objective study
    # auto | max | min | last (one, or one per metric): which epoch's value the job returns; auto is the
    # metric's own orientation (val/score: the competition metric's, e.g. min for data.metric=log_loss)
    mode: Any = "auto"


SCHEMAS: dict[str, dict[str, type]] = {
    "data": {"base_data": DataConfig},
    "model": {"base_seed_cnn": SeedCNNConfig, "base_backbone": BackboneConfig},
    "optimizer": {"base_adam": AdamConfig, "base_sgd": SGDConfig},
    "scheduler": {
        "base_scheduler": SchedulerConfig,
        "base_cosine": CosineSchedulerConfig,
        "base_step": StepSchedulerConfig,
        "base_onecycle": OneCycleSchedulerConfig,
    },
    "augmentation": {"base_augmentation": AugmentationConfig},
    "trainer": {"base_trainer": TrainerConfig},
    "tracking": {"base_tracking": TrackingConfig},
    "objective": {"base_objective": ObjectiveConfig},
}
SCHEMA_GROUP = "hydra/schemas"


def register_configs(experiments_dir: Path | None = None) -> None:
    """Store the group schemas and the named experiments (selectable as `experiment=NAME`)."""
    cs = ConfigStore.instance()
    # Under hydra/, which Hydra's --help and "Available options" leave out: the schemas are building
    # blocks of the options (`- /hydra/schemas/model/base_seed_cnn@_here_`), not options themselves.
    cs.store(group=SCHEMA_GROUP, name="base_study", node=StudyConfig)
    for group, schemas in SCHEMAS.items():
        for name, node in schemas.items():
            cs.store(group=f"{SCHEMA_GROUP}/{group}", name=name, node=node)
    if experiments_dir is None:
        return
    # experiments/ sits beside conf/, not inside it, so it is not a search-path group of its own.
    for path in sorted(Path(experiments_dir).glob("*.yaml")):
        cs.store(group="experiment", name=path.stem, node=OmegaConf.load(path), package="_global_")
