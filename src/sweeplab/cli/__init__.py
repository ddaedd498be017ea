"""sweeplab: browse, compare, rerun, refit, ensemble and submit the runs `python train.py` records."""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from sweeplab.cli.run_ids import resolve_run_id
from sweeplab.errors import SweeplabError
from sweeplab.protocol import Tag
from sweeplab.runs.tracking import DEFAULT_STORE, artifact_root_for, default_tracking_uri


def ui_command(args: argparse.Namespace) -> int:
    """Start `mlflow ui` on the project's store, bound to loopback unless --host says otherwise."""
    store = Path(args.store)
    if not (store / "mlflow.db").is_file():
        print(
            f"error: no MLflow store at {store / 'mlflow.db'}; run `python train.py` first or pass --store",
            file=sys.stderr,
        )
        return 2
    uri = default_tracking_uri(store)
    base = f"http://{args.host}:{args.port}"
    print(f"MLflow UI on {store / 'mlflow.db'} at {base} (Ctrl-C stops it); the runs of each experiment:")
    for name, url in experiment_urls(uri, base):
        print(f"  {name}: {url}")
    command = [
        *(sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri),
        *("--registry-store-uri", uri, "--default-artifact-root", artifact_root_for(uri)),
        *("--host", args.host, "--port", str(args.port)),
        # One worker: a UI for one user on a 2-core machine does not need MLflow's default of 4 processes,
        # and one stops at once on Ctrl-C.
        *("--workers", "1", "--uvicorn-opts", "--log-level warning"),
    ]
    os.environ["PYTHONWARNINGS"] = "ignore"  # MLflow's deprecation warnings are not the user's business
    # No job runner and its 7 queue consumers (GenAI scoring and trace archival): nothing sweeplab uses.
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    sys.stdout.flush()
    os.execvp(command[0], command)
    return 0  # not reached: exec replaced this process


def experiment_urls(uri: str, base: str) -> list[tuple[str, str]]:
    """(name, URL of its runs table) for every experiment with runs, newest first; sets the table's view."""
    from mlflow.tracking import MlflowClient

    from sweeplab.runs.tracking import run_url, set_runs_view

    client = MlflowClient(uri)
    urls = []
    for experiment in client.search_experiments(order_by=["last_update_time DESC"]):
        if experiment.name == "Default" and not client.search_runs([experiment.experiment_id], max_results=1):
            continue
        set_runs_view(client, experiment.experiment_id)  # experiments made before sweeplab set it
        urls.append((experiment.name, run_url(base, experiment.experiment_id)))
    return urls


def _client(args: argparse.Namespace):
    """The MLflow store named by --tracking-uri, else $MLFLOW_TRACKING_URI, else ./mlruns."""
    from mlflow.tracking import MlflowClient

    from sweeplab.runs.tracking import resolve_tracking_uri

    return MlflowClient(resolve_tracking_uri(args.tracking_uri))


def _chosen_run(args: argparse.Namespace, client) -> str:
    """The run a rerun or refit starts from: RUN_ID (any unique prefix) or the best trial of --best STUDY."""
    from sweeplab.study.queries import best_trial_run

    if args.best and args.run_id and "=" in args.run_id:  # `rerun --best S key=value`: no RUN_ID given
        args.overrides, args.run_id = [args.run_id, *args.overrides], None
    if bool(args.run_id) == bool(args.best):
        raise SweeplabError("give a RUN_ID or --best STUDY (not both)")
    return resolve_run_id(client, args.run_id) if args.run_id else best_trial_run(args.best, args.storage)


def _outputs_dir(kind: str, run_id: str | None = None) -> Path:
    """Where a training run's outputs go (Hydra's outputs/DATE/TIME), named by what made them."""
    suffix = f"{kind}-{run_id[:8]}" if run_id else kind
    return Path("outputs") / time.strftime("%Y-%m-%d") / time.strftime(f"%H-%M-%S-{suffix}")


def rerun_command(args: argparse.Namespace) -> int:
    """Run a recorded run again (a new run tagged with the one it reproduces) and compare the two."""

    from sweeplab.runs.recorded import apply_overrides, load_recorded
    from sweeplab.runs.rerun import compare_runs, differences
    from sweeplab.training.job import run

    client = _client(args)
    uri = client.tracking_uri
    run_id = _chosen_run(args, client)
    recorded = load_recorded(client, run_id)
    config = apply_overrides(recorded.config, args.overrides)
    config.tracking.uri = uri  # the rerun lands beside the run it reproduces
    found = differences(recorded)
    for line in found:
        print(f"warning: {line}", file=sys.stderr)
    if found and args.strict:
        print(
            f"error: --strict: {len(found)} difference(s) from run {run_id}; nothing was run", file=sys.stderr
        )
        return 2
    tags = {Tag.RERUN_OF: run_id, Tag.RERUN_OVERRIDES: " ".join(args.overrides)}
    output_dir = _outputs_dir("rerun", run_id)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the epochs and the summary, as train.py
    run(config, output_dir=output_dir, overrides=list(args.overrides), tags=tags)
    print(f"outputs of the rerun (submissions, curves, model): {output_dir.resolve()}")
    (newest,) = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        f"tags.`{Tag.RERUN_OF}` = '{run_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    new_id = newest.info.run_id
    table, identical = compare_runs(client, run_id, new_id)
    print(table)
    if args.overrides:
        verdict = "overrides given: differences are expected"
    else:
        verdict = "identical to the original" if identical else "DIFFERENT from the original"
    print(f"rerun {new_id} of {run_id}: {verdict}")
    return 0


def refit_command(args: argparse.Namespace) -> int:
    """A trial's config on every labelled image for its best epoch count: a submission, logged as a run."""
    from sweeplab.runs.refit import refit

    client = _client(args)
    run_id = _chosen_run(args, client)
    output_dir = _outputs_dir("refit", run_id)
    new_id = refit(client, run_id, list(args.overrides), output_dir)
    scores = _scores(client, new_id)
    print(
        f"refit {new_id} of {run_id}: submission {output_dir / 'submission_best.csv'}"
        + (f"; {scores}" if scores else "")
        + f"; send it with `sweeplab kaggle submit {new_id[:8]} --competition SLUG`"
    )
    return 0


def ensemble_command(args: argparse.Namespace) -> int:
    """Average several runs' (or a study's top trials') probabilities into one submission, logged as a run."""
    from sweeplab.kaggle.ensemble import ensemble
    from sweeplab.study.queries import top_trial_runs

    if bool(args.run_ids) == bool(args.sweep):
        print("error: give RUN_IDs or --sweep STUDY --top K (not both)", file=sys.stderr)
        return 2
    client = _client(args)
    if args.sweep:
        run_ids = top_trial_runs(args.sweep, args.storage, args.top)
    else:
        run_ids = [resolve_run_id(client, r) for r in args.run_ids]
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    output_dir = Path(args.out) if args.out else _outputs_dir("ensemble")
    method = "rank" if args.rank else "mean"
    new_id, scores = ensemble(client, run_ids, output_dir, method=method, weights=weights, epoch=args.epoch)
    shown = "  ".join(f"{k}={v:.4f}" for k, v in scores.items())
    print(
        f"ensemble {new_id} of {len(run_ids)} runs ({', '.join(r[:8] for r in run_ids)}): {shown}; "
        f"submission {output_dir / 'submission_best.csv'}; "
        f"send it with `sweeplab kaggle submit {new_id[:8]} --competition SLUG`"
    )
    return 0


def _scores(client, run_id: str) -> str:
    metrics = client.get_run(run_id).data.metrics
    return "  ".join(f"{k}={metrics[k]:.4f}" for k in ("kaggle/public", "kaggle/private") if k in metrics)


def kaggle_command(args: argparse.Namespace) -> int:
    """Kaggle scores onto a run: submitted through Kaggle's API, or recorded by hand."""

    from sweeplab.kaggle.runs import record_scores
    from sweeplab.kaggle.submit import submit_run

    client = _client(args)
    args.run_id = resolve_run_id(client, args.run_id)
    if args.kaggle_command == "submit":
        scores = submit_run(
            client, args.run_id, args.competition, args.message, args.epoch, args.timeout, args.poll_interval
        )
    else:
        scores = record_scores(client, args.run_id, args.public, args.private, args.epoch)
    print(f"run {args.run_id}: " + "  ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    return 0


def compare_command(args: argparse.Namespace) -> int:
    """Validation against Kaggle scores for every run of an experiment (or one sweep)."""

    from sweeplab.kaggle.report import compare as compare_runs

    client = _client(args)
    # One folder per experiment (and study): comparing another does not overwrite this report.
    out = (
        Path(args.out)
        if args.out
        else Path("compare") / "-".join(filter(None, (args.experiment, args.sweep)))
    )
    print(compare_runs(client, args.experiment, args.sweep, args.top, out, log=args.log))
    return 0


def cache_command(args: argparse.Namespace) -> int:
    """List the cache entries (images, features) with size, last use and what they hold; remove some."""
    from sweeplab.cli.cache import cache

    if args.older_than is not None and args.older_than < 0:
        print("error: --older-than takes a number of days >= 0, e.g. 30", file=sys.stderr)
        return 2
    print(cache(Path(args.cache_dir), clear=args.clear, older_than=args.older_than))
    return 0


def add_finish_parsers(commands) -> None:
    """`sweeplab refit` and `sweeplab ensemble`: a study's submission, from its best trial or several."""
    refit_parser = commands.add_parser("refit", help="train a trial's config on all labelled images")
    refit_parser.add_argument("run_id", nargs="?", help="the trial run to refit (a unique prefix will do)")
    refit_parser.add_argument("overrides", nargs="*", help="key=value changes, e.g. trainer.seed=1")
    refit_parser.add_argument("--best", metavar="STUDY", help="refit the best trial of this Optuna study")
    refit_parser.add_argument("--storage", help="the study's storage (default: ./mlruns/optuna.db)")
    refit_parser.add_argument(
        "--tracking-uri", help="the MLflow store (default: $MLFLOW_TRACKING_URI or ./mlruns)"
    )
    refit_parser.set_defaults(handler=refit_command)

    ensemble_parser = commands.add_parser("ensemble", help="average runs' predictions into one submission")
    ensemble_parser.add_argument("run_ids", nargs="*", help="the runs to average (unique prefixes will do)")
    ensemble_parser.add_argument("--sweep", metavar="STUDY", help="the best trials of this Optuna study")
    ensemble_parser.add_argument("--top", type=int, default=3, help="with --sweep: how many (default: 3)")
    ensemble_parser.add_argument("--storage", help="the study's storage (default: ./mlruns/optuna.db)")
    ensemble_parser.add_argument("--weights", help="one weight per run, comma-separated (default: equal)")
    ensemble_parser.add_argument(
        "--rank", action="store_true", help="average ranks instead of probabilities (for ROC-AUC)"
    )
    ensemble_parser.add_argument(
        "--epoch", choices=("best", "last"), default="best", help="which test predictions of each run"
    )
    ensemble_parser.add_argument(
        "--out", help="folder for the submission (default: outputs/DATE/TIME-ensemble)"
    )
    ensemble_parser.add_argument(
        "--tracking-uri", help="the MLflow store (default: $MLFLOW_TRACKING_URI or ./mlruns)"
    )
    ensemble_parser.set_defaults(handler=ensemble_command)


TRACKING_URI_HELP = "the MLflow store (default: $MLFLOW_TRACKING_URI or ./mlruns)"


def main(argv: list[str] | None = None) -> int:
    # The commands read a few small artifacts (config.yaml, predictions): no progress bar for each.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = argparse.ArgumentParser(prog="sweeplab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_ui_and_rerun(commands)
    add_finish_parsers(commands)
    _add_kaggle(commands)
    _add_compare_and_cache(commands)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SweeplabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _add_ui_and_rerun(commands) -> None:
    ui_parser = commands.add_parser("ui", help="browse and compare runs in the MLflow UI")
    ui_parser.add_argument("--store", default=str(DEFAULT_STORE), help="store folder (default: ./mlruns)")
    ui_parser.add_argument("--host", default="127.0.0.1")
    ui_parser.add_argument("--port", type=int, default=5000)
    ui_parser.set_defaults(handler=ui_command)
    rerun_parser = commands.add_parser("rerun", help="run a recorded run again and compare")
    rerun_parser.add_argument("run_id", nargs="?", help="the MLflow run to reproduce (any unique prefix)")
    rerun_parser.add_argument("overrides", nargs="*", help="key=value changes, e.g. trainer.epochs=10")
    rerun_parser.add_argument("--best", metavar="STUDY", help="rerun the best trial of this Optuna study")
    rerun_parser.add_argument("--storage", help="the study's storage (default: ./mlruns/optuna.db)")
    rerun_parser.add_argument("--tracking-uri", help=TRACKING_URI_HELP)
    rerun_parser.add_argument(
        "--strict", action="store_true", help="refuse to run when code, data or packages differ"
    )
    rerun_parser.set_defaults(handler=rerun_command)


def _add_kaggle(commands) -> None:
    kaggle_parser = commands.add_parser("kaggle", help="Kaggle scores beside validation scores")
    kaggle_commands = kaggle_parser.add_subparsers(dest="kaggle_command", required=True)
    submit = kaggle_commands.add_parser("submit", help="upload a run's submission, wait for its score")
    submit.add_argument("run_id")
    submit.add_argument("--competition", required=True, help="the competition's slug, e.g. dogs-vs-cats")
    submit.add_argument("--message", default="", help="submission description (the run id is appended)")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the score")
    submit.add_argument("--poll-interval", type=float, default=10.0)
    record = kaggle_commands.add_parser("record", help="record a score read off the leaderboard")
    record.add_argument("run_id")
    record.add_argument("--public", type=float)
    record.add_argument("--private", type=float)
    for sub in (submit, record):
        sub.add_argument("--epoch", choices=("best", "last"), default="best", help="which submission file")
        sub.add_argument("--tracking-uri", help=TRACKING_URI_HELP)
    kaggle_parser.set_defaults(handler=kaggle_command)


def _add_compare_and_cache(commands) -> None:
    compare_parser = commands.add_parser("compare", help="validation vs Kaggle scores of every run")
    compare_parser.add_argument(
        "experiment", nargs="?", default="demo", help="MLflow experiment (default: demo)"
    )
    compare_parser.add_argument("--sweep", metavar="STUDY", help="only this Optuna study's trials")
    compare_parser.add_argument("--top", type=int, help="only the N best runs by validation score")
    compare_parser.add_argument(
        "--out", help="folder for compare.html and compare.csv (default: compare/EXPERIMENT[-STUDY])"
    )
    compare_parser.add_argument(
        "--log",
        action="store_true",
        help="also log the report to MLflow without --sweep: on the experiment's one comparison run",
    )
    compare_parser.add_argument("--tracking-uri", help=TRACKING_URI_HELP)
    compare_parser.set_defaults(handler=compare_command)
    cache_parser = commands.add_parser("cache", help="list the image and feature caches; remove entries")
    cache_parser.add_argument(
        "--cache-dir", default="~/.cache/sweeplab", help="data.cache_dir (default: %(default)s)"
    )
    cache_parser.add_argument("--clear", action="store_true", help="remove every entry not being built")
    cache_parser.add_argument(
        "--older-than", type=float, metavar="DAYS", help="remove the entries not used for DAYS days"
    )
    cache_parser.set_defaults(handler=cache_command)


if __name__ == "__main__":
    sys.exit(main())
