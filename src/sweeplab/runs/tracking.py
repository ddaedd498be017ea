"""The `tracking` config group: one MLflow run per job, through an explicit client (no global run)."""

import contextlib
import json
import logging
import os
import re
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from sweeplab.errors import ConfigError
from sweeplab.protocol import Metric, Tag
from sweeplab.runs.redact import redact
from sweeplab.runs.sqlite_lock import sqlite_file, sqlite_setup_lock

# MLflow takes ~1 s to import (2 cores): it is imported where a client is made or used, so that a sweep of
# an app whose config has no `tracking` (the sweeper imports this module for experiment_name) never pays it.
if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DEFAULT_STORE = Path("mlruns")
# MLflow says "Creating initial MLflow database tables..." at INFO on a new store: not the user's concern.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
MAX_PARAM_LENGTH = 6000  # MLflow refuses longer param values
BATCH_LIMIT = 100  # MLflow's log_batch accepts at most 100 params per call
UI_URL = "http://127.0.0.1:5000"  # where `sweeplab ui` serves the local store
VIEW_KEY, VIEW_NAME = "viewStateShareKey", "sweeplab"
# A tracking server that does not answer: said after this long, not after the ~4 minutes of MLflow's own
# HTTP retries (every trial of a study again).
SERVER_CHECK_S = 5


def default_tracking_uri(store: Path = DEFAULT_STORE) -> str:
    return f"sqlite:///{(store / 'mlflow.db').resolve()}"


def resolve_tracking_uri(uri: str | None) -> str:
    """Config value, else $MLFLOW_TRACKING_URI, else the embedded SQLite store in ./mlruns/."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    DEFAULT_STORE.mkdir(exist_ok=True)
    return default_tracking_uri()


def check_tracking_server(uri: str | None, given_as: str = "tracking.uri=") -> None:
    """One request to a tracking server's /health before anything else talks to it: no answer within
    SERVER_CHECK_S is one line naming the URI as it was given (`given_as`) and the fix. `uri` None: the
    one $MLFLOW_TRACKING_URI names. A local store needs no check (nor is its folder made here), and a
    server that goes away later still gets MLflow's retries."""
    if uri is None and os.environ.get("MLFLOW_TRACKING_URI"):
        uri, given_as = os.environ["MLFLOW_TRACKING_URI"], "$MLFLOW_TRACKING_URI="
    if not uri or not uri.startswith(("http://", "https://")):
        return
    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 host keeps its brackets
    netloc += f":{parts.port}" if parts.port else ""  # no credentials: MLflow sends those itself
    health = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
    try:
        with urllib.request.urlopen(health, timeout=SERVER_CHECK_S):
            return
    except urllib.error.HTTPError:
        return  # something answered (a server, a proxy asking for credentials): MLflow takes it from here
    except (urllib.error.URLError, OSError) as e:
        reason, key = getattr(e, "reason", e), given_as.strip("= ")
        raise ConfigError(
            f"{given_as}{redact(uri)}: no MLflow server answers there ({reason}); start one with "
            f"`mlflow server --host {host or 'HOST'} --port {parts.port or 5000}`, or leave {key} unset for "
            "the local store ./mlruns"
        ) from None


def artifact_root_for(uri: str, experiment: str | None = None) -> str | None:
    """Artifacts of an SQLite store live beside its database file, so one folder holds a whole store."""
    database = sqlite_file(uri)
    if database is None:
        return None
    root = database.parent / "artifacts"
    if experiment is not None:
        root /= re.sub(r"[^A-Za-z0-9_.-]+", "_", experiment)
    return root.resolve().as_uri()  # a tracking server or other store picks its own artifact root


def experiment_name(cfg: DictConfig) -> str:
    """tracking.experiment, else the experiment's `name`; a competition folder run under the default name
    gets the folder's name, so real competitions never mix with the demo's runs."""
    if cfg.tracking.experiment:
        return cfg.tracking.experiment
    if cfg.name == "demo" and cfg.data.name != "demo" and cfg.data.root:
        return Path(cfg.data.root).expanduser().resolve().name
    return cfg.name


def run_url(uri: str, experiment_id: str, run_id: str | None = None) -> str:
    """Where the MLflow UI shows an experiment's runs table (or one run) in model-training mode.

    MLflow 3 opens experiments in its GenAI view (traces, "Detect issues"); `workflowType=machine_learning`
    opens the runs table instead, and the view tag below shows the scores there as sorted columns. A
    server URI is used as is; a local store is what `sweeplab ui` serves.
    """
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else UI_URL
    if run_id:
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
    return f"{base}/#/experiments/{experiment_id}/runs?{VIEW_KEY}={VIEW_NAME}&workflowType=machine_learning"


def set_runs_view(client: "MlflowClient", experiment_id: str, lower_is_better: bool = False) -> None:
    """The experiment's runs table as sweeplab users compare runs: scores as columns, best val/score first
    (lowest first for a competition scored by a loss).

    The MLflow UI (3.x) applies an experiment tag `mlflow.sharedViewState.<name>` when its URL carries
    `viewStateShareKey=<name>`: the only view setting a client can make (metric names stay as they are).
    """
    columns = [f"metrics.`{m}`" for m in (Metric.VAL_SCORE, Metric.KAGGLE_PUBLIC, Metric.KAGGLE_PRIVATE)]
    columns += [f"metrics.`{Metric.VAL_LOSS}`", f"metrics.`{Metric.GAP}`"]
    state = {
        "selectedColumns": columns,
        "columnOrder": columns,
        "orderByKey": f"metrics.`{Metric.VAL_SCORE}`",
        "orderByAsc": lower_is_better,
    }
    client.set_experiment_tag(experiment_id, f"mlflow.sharedViewState.{VIEW_NAME}", json.dumps(state))


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> {"optimizer.lr": "0.0001", ...}; lists stay one value."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


class Tracker:
    """One MLflow run: params, per-epoch metrics, tags and artifacts."""

    def __init__(self, uri: str | None, experiment: str, lower_is_better: bool = False):
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.uri = resolve_tracking_uri(uri)
        database = sqlite_file(self.uri)
        if database is not None:  # MLflow makes the folder anyway; made first, it holds the lock
            database.parent.mkdir(parents=True, exist_ok=True)
        try:
            with sqlite_setup_lock(self.uri):  # the client's first use of a store creates its tables
                self.client = MlflowClient(tracking_uri=self.uri)
                self.experiment_id = self._experiment_id(experiment, lower_is_better)
                self.experiment_name = experiment
        except MlflowException as e:
            raise ConfigError(
                f"cannot open the MLflow store {redact(self.uri)} (tracking.uri): {redact(e.message)}"
            ) from e
        self.run_id: str | None = None

    def _experiment_id(self, name: str, lower_is_better: bool) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            experiment_id = self.client.create_experiment(
                name, artifact_location=artifact_root_for(self.uri, name)
            )
        except MlflowException:  # created meanwhile by a parallel trial
            return self.client.get_experiment_by_name(name).experiment_id
        set_runs_view(self.client, experiment_id, lower_is_better)
        return experiment_id

    def start(self, run_name: str, tags: dict[str, str]) -> str:
        tags = {k: redact(str(v)) for k, v in tags.items()}
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        return self.run_id

    @contextlib.contextmanager
    def run(
        self, run_name: str, tags: dict[str, str], ok: tuple[type[BaseException], ...] = ()
    ) -> Iterator["Tracker"]:
        """A run that ends FINISHED, FAILED with the error as a tag, or KILLED on Ctrl-C; the exceptions in
        `ok` (a pruned trial) end it FINISHED and go on."""
        self.start(run_name, tags)
        try:
            yield self
        except ok:
            self.finish("FINISHED")
            raise
        except BaseException as e:
            self.set_tags({Tag.ERROR: f"{type(e).__name__}: {e}"[:5000]})
            self.finish("KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
            # A sweep keeps the exception, and with it every frame's locals (model, optimizer, batches,
            # activations): clear the finished frames so a failed trial's memory goes back too.
            traceback.clear_frames(e.__traceback__)
            raise
        self.finish("FINISHED")

    def log_config(self, cfg: DictConfig, skip: tuple[str, ...] = ()) -> None:
        """The resolved config as params (keys starting with `skip` left out) and as config.yaml."""
        params = flatten(OmegaConf.to_container(cfg, resolve=True))
        self.log_params({k: v for k, v in params.items() if not k.startswith(skip)})
        self.client.log_text(self.run_id, redact(OmegaConf.to_yaml(cfg, resolve=True)), "config.yaml")

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, redact(str(v))) for k, v in params.items()]
        for i in range(0, len(items), BATCH_LIMIT):
            self.client.log_batch(self.run_id, params=items[i : i + BATCH_LIMIT])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric as MlflowMetric

        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id, metrics=[MlflowMetric(k, float(v), now, step) for k, v in metrics.items()]
        )

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, redact(str(v))) for k, v in tags.items()])

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        """Everything in the folder, under artifact_path."""
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)
