"""train.py's front door: its own --help, every refusal of a sweeplab key or value as one `error:` line
and exit code 2, and the job it runs (`train`: a study's trial handed to the job it belongs to).

Hydra refuses a bad key, type or enum value at compose time, but prints several lines and exits 1. The
command line is composed once here first (about 0.3 s) and a refusal is turned into one line naming the
key, the valid values and, for a typo, the closest key.
"""

import contextlib
import dataclasses
import difflib
import functools
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, MissingConfigException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from sweeplab.config import SCHEMAS
from sweeplab.errors import SweeplabError
from sweeplab.scoring.orientation import METRICS

log = logging.getLogger(__name__)
HYDRA_FLAGS = ("-m", "--multirun")  # the only flags that still leave a command line of overrides
HELP_FLAGS = ("--help", "-h")
# The keys users set most, with what each does; tests/unit/test_help.py checks that each still exists.
COMMON_KEYS = (
    ("data.root=PATH", "the competition folder (with data=kaggle): train/, test/, sample_submission.csv"),
    ("data.img_size=PX", "every image resized once to PX x PX into the image cache"),
    ("data.metric=NAME", f"the competition's metric ({', '.join(METRICS)}), which the default objective is"),
    ("data.val_fraction=F | data.folds=K", "a stratified holdout, or k-fold validation"),
    ("trainer.epochs=N trainer.batch_size=N", "the schedule"),
    ("optimizer.lr=X", "the learning rate"),
    ("trainer.device=auto|cpu|cuda:N", "where to train (auto: a GPU when there is one)"),
    ("model.arch=NAME model.pretrained=true", "any architecture, with model=torchvision or model=timm"),
    ("tracking.uri=URI", "the MLflow store (default: ./mlruns, or $MLFLOW_TRACKING_URI)"),
    ("-m hydra/sweeper=optuna hydra.sweeper.n_trials=N", "an Optuna study; hydra.sweeper.params: its space"),
    (
        "-m hydra/launcher=pool hydra.sweeper.n_jobs=N",
        "an Optuna study's trials N at a time, on warm worker processes (every slot busy)",
    ),
)


def train(cfg: DictConfig, **kwargs) -> float | list[float]:
    """One training job (sweeplab.training.job.run); in a sweep (study.* in its config) it is handed how to
    open its Optuna trial, which hears every epoch and may prune it. A single run never imports Optuna."""
    from sweeplab.training.job import run  # torch and MLflow load here: a refused command line answers fast

    if cfg.get("lr_find"):  # the range test instead of training: the suggested optimizer.lr is returned
        from sweeplab.training.lr_find import find_lr

        return find_lr(cfg, kwargs.get("output_dir"))
    if OmegaConf.select(cfg, "study.trial_id", default=None) is None:
        return run(cfg, **kwargs)
    from sweeplab.study.job_side import StudyTrial

    return run(cfg, open_trial=StudyTrial.for_job, **kwargs)


def exit_cleanly_on_user_error(task: Callable) -> Callable:
    """A single run prints a SweeplabError as one line and exits 2; in a sweep the job fails alone."""

    @functools.wraps(task)
    def wrapper(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except SweeplabError as e:
            if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
                # One line per failing job; the launcher records it as failed and the sweep goes on.
                overrides = " ".join(HydraConfig.get().overrides.task)
                log.error("error in job %s: %s", overrides, e)
                raise
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapper


@contextlib.contextmanager
def one_line_on_interrupt() -> Iterator[None]:
    """Ctrl-C ends train.py with one line and exit code 130, not a traceback of every frame it hit."""
    # joblib's worker processes die with the interrupt; the resource tracker they leave then warns about
    # their semaphores at exit (2 lines). Set before any worker starts, so the tracker inherits it.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:multiprocessing.resource_tracker")
    try:
        yield
    except KeyboardInterrupt as e:
        # A single run says what it kept (Interrupted's message); a sweep resumes from its storage.
        said = str(e) or "the finished trials are stored; run the same command to resume the study"
        print(f"\ninterrupted: {said}", file=sys.stderr)
        sys.exit(130)


def answer_help(config_dir: Path, argv: list[str] | None = None) -> None:
    """`python train.py --help`: sweeplab's own page (every group's options, the common keys), exit 0."""
    if any(a in HELP_FLAGS for a in (sys.argv[1:] if argv is None else argv)):
        print(help_text(Path(config_dir), Path(config_dir).parent / "experiments"))
        sys.exit(0)


def help_text(config_dir: Path, experiments_dir: Path) -> str:
    """Groups with their options, each with its file's first comment sentence; the defaults starred."""
    defaults = {}
    for item in OmegaConf.load(config_dir / "config.yaml").defaults:
        if isinstance(item, DictConfig) and not str(next(iter(item))).startswith("/"):
            defaults.update(item)
    folders = {g.name: g for g in sorted(config_dir.iterdir()) if g.is_dir()}
    folders["experiment"] = experiments_dir
    lines = [
        "python train.py [-m] [GROUP=OPTION ...] [KEY=VALUE ...]",
        "",
        "Trains one model on the composed config and logs it as an MLflow run (see it: sweeplab ui);",
        "with -m, sweeps: comma-separated values (optimizer.lr=1e-4,1e-3) or an Optuna study.",
        "",
        "Config groups (GROUP=OPTION, * the default):",
    ]
    for group, folder in folders.items():
        lines.append(f"  {group}")
        for option in sorted(folder.glob("*.yaml")):
            star = " *" if defaults.get(group) == option.stem else ""
            lines += _help_rows(f"  {option.stem}{star}", _first_sentence(option), 24)
    lines += ["", "Keys set most:"]
    for key, what in COMMON_KEYS:
        lines += _help_rows(key, what, 40)
    lines += [
        "",
        "The whole config, every key with its value: python train.py --cfg job [GROUP=OPTION ...]",
        "Hydra's own flags: python train.py --hydra-help; the guide: docs/README.md",
    ]
    return "\n".join(lines)


def _help_rows(left: str, right: str, column: int, width: int = 100) -> list[str]:
    """`left` then `right` wrapped into the column after it (below it when `left` is wider)."""
    indent = " " * (column + 2)
    first = f"  {left:<{column}}"
    if len(first) > len(indent):
        return [first.rstrip(), *textwrap.wrap(right, width, initial_indent=indent, subsequent_indent=indent)]
    return textwrap.wrap(right, width, initial_indent=first, subsequent_indent=indent)


def _first_sentence(path: Path) -> str:
    """The option file's leading comment, up to its first full stop."""
    words = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            words.append(line.lstrip("# ").strip())
    text = " ".join(words)
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


def choose_competition_data(config_dir: Path, argv: list[str] | None = None) -> None:
    """`data.root=DIR` given without a `data=` choice trains on DIR as a competition (data=kaggle) and says
    so in one line; the demo's config would otherwise train on DIR and file its runs under `demo`. `argv`
    (sys.argv by default, the program's name first) gets the choice appended, before Hydra reads it."""
    argv = sys.argv if argv is None else argv
    chosen = competition_data(config_dir, argv[1:])
    if chosen is not None:
        argv.append("data=kaggle")
        print(chosen, file=sys.stderr)


def competition_data(config_dir: Path, args: list[str]) -> str | None:
    """The line saying that data=kaggle is chosen for a data.root given without a data= choice (no
    experiment chose one either); None when the command line leaves the data group as it is."""
    keys = {a.partition("=")[0].lstrip("+~"): a.partition("=")[2] for a in args if "=" in a}
    if "data.root" not in keys or "data" in keys:
        return None
    experiment = [a for a in args if a.partition("=")[0].lstrip("+") == "experiment"]
    try:
        name = _compose(config_dir, experiment).data.name
    except (HydraException, OmegaConfBaseException):
        return None  # refused with its reason by refuse_bad_command_line
    if name != "demo":
        return None
    return (
        f"data.root={keys['data.root']}: a competition folder, so data=kaggle (its runs go to the experiment "
        "named after the folder; data=demo data.root=DIR would write the demo there)"
    )


def refuse_bad_command_line(config_dir: Path, argv: list[str] | None = None) -> None:
    """Print the command line's first refusal as one `error:` line and exit 2; return if it composes."""
    problem = command_line_problem(config_dir, sys.argv[1:] if argv is None else argv)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)


def command_line_problem(config_dir: Path, args: list[str]) -> str | None:
    """What is wrong with the overrides in `args`, in one line; None when they compose (or are Hydra's
    own business: --help, --cfg, ... and override syntax errors, which Hydra reports in one line)."""
    overrides = [a for a in args if a not in HYDRA_FLAGS]
    if any(a.startswith("-") for a in overrides):
        return None
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return None
    # A sweep's values are checked per job; its key is checked here, against the composed config.
    plain = [o for o in parsed if not o.is_sweep_override()]
    try:
        cfg = _compose(config_dir, [o.input_line for o in plain])
    except (HydraException, OmegaConfBaseException) as e:
        return _one_line(e, config_dir, plain)
    for override in parsed:
        problem = _override_problem(override, cfg)
        if problem is not None:
            return problem
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    for key in params:
        if not key.startswith("hydra.") and OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT:
            return _unknown_key(key, cfg, where=f"hydra.sweeper.params.{key}: ")
    return _direction_problem(cfg)


def _direction_problem(cfg: DictConfig) -> str | None:
    """A given hydra.sweeper.direction that contradicts the objective, said here as one `error:` line."""
    if OmegaConf.select(cfg, "hydra.sweeper.direction") is None or "objective" not in cfg:
        return None
    from sweeplab.study.directions import sweep_directions  # imports Optuna: only when a direction is given

    try:
        sweep_directions(cfg.hydra.sweeper.direction, cfg)
    except SweeplabError as e:
        return str(e)
    return None


_ABSENT = object()


def _compose(config_dir: Path, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(Path(config_dir).resolve()), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def _override_problem(override: Override, cfg: DictConfig) -> str | None:
    key = override.key_or_group
    if key.startswith("hydra") or "/" in key:
        return None
    if key in SCHEMAS:  # a group choice: Hydra itself says when it is not an option
        return None
    group, _, leaf = key.rpartition(".")
    if override.is_add() and group.split(".")[0] in SCHEMAS:
        parent = OmegaConf.select(cfg, group, default=None)
        schema = OmegaConf.get_type(parent) if isinstance(parent, DictConfig) else None
        # +key adds to open mappings (e.g. a transform's arguments), never to a typed group: that is a typo.
        if dataclasses.is_dataclass(schema) and leaf not in {f.name for f in dataclasses.fields(schema)}:
            keys = [k for k in parent if k != leaf]
            return _typo(key, keys, group) + " (+ adds a new key; sweeplab's groups have fixed keys)"
    elif override.is_sweep_override() and OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT:
        return _unknown_key(key, cfg)
    return None


def _one_line(error: BaseException, config_dir: Path, plain: list[Override]) -> str:
    if isinstance(error, MissingConfigException) and error.options is not None:
        group, _, choice = (error.missing_cfg_file or "").rpartition("/")
        options = ", ".join(error.options)
        hint = "; any torchvision model: model=torchvision model.arch=NAME" if group == "model" else ""
        return f"{group}={choice} is not an option; valid: {options}{hint}"
    cause = error
    while cause is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return str(error).splitlines()[0]
    key = cause.full_key or ""
    message = str(cause.msg if hasattr(cause, "msg") else cause).splitlines()[0]
    if isinstance(cause, ConfigKeyError | ConfigAttributeError):
        try:  # the valid keys of that group, as composed without the offending override
            cfg = _compose(config_dir, [o.input_line for o in plain if o.key_or_group != key])
        except (HydraException, OmegaConfBaseException):
            return f"{key} is not a key ({message})"
        return _unknown_key(key, cfg)
    if isinstance(cause, ValidationError):
        value = next((o.value() for o in plain if o.key_or_group == key), None)
        if "expected one of" in message:  # an enum: name the valid values
            valid = message.split("expected one of", 1)[1].strip(" []")
            return f"{key}={value} is not valid; valid: {valid}"
        return f"{key}={value} is not valid: {message}"
    return f"{key}: {message}" if key else message


def _unknown_key(key: str, cfg: DictConfig, where: str = "") -> str:
    group, _, _ = key.rpartition(".")
    node = OmegaConf.select(cfg, group, default=None) if group else cfg
    keys = [k for k in node if k != "hydra"] if isinstance(node, DictConfig) else []
    return where + _typo(key, keys, group)


def _typo(key: str, keys: list, group: str) -> str:
    leaf = key.rpartition(".")[2]
    prefix = f"{group}." if group else ""
    close = difflib.get_close_matches(leaf, [str(k) for k in keys], n=1)
    hint = f"did you mean {prefix}{close[0]}? " if close else ""
    return f"{key} is not a key of {group or 'the config'}; {hint}(valid: {', '.join(map(str, keys))})"
