"""One sweep of `hydra/sweeper=optuna`, handed over by the Hydra adapter (hydra_plugins/sweeplab_optuna/):
the study loop with the study's MLflow parent run beside it, and how every sweep ends, stopped or failed
too: the trial table, the parent run closed, the study's name; then the official plugin's results file.
"""

import logging

import optuna
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig

from sweeplab.protocol import Tag, quoted
from sweeplab.runs.tracking import check_tracking_server, experiment_name, resolve_tracking_uri
from sweeplab.study.launchers import Placement, Where, placement, storage_warning
from sweeplab.study.loop import StudyLoop
from sweeplab.study.results import write_results
from sweeplab.study.runs import StudyRuns
from sweeplab.study.slots import Pooled
from sweeplab.study.table import format_table, trial_rows

log = logging.getLogger(__name__)


def run_sweep(
    sweeper_cfg: DictConfig,
    job_cfg: DictConfig,
    launcher: Launcher,
    arguments: list[str],
    pool: Pooled | None = None,
) -> None:
    """The study to n_trials through the Hydra launcher (one job at a time into each free slot when the
    launcher side hands a pool); Ctrl-C stops it resumably, in one line."""
    where = placement(job_cfg)
    if sweeper_cfg.get("batched") and pool is not launcher:
        pool = None  # joblib's batches go through its own launch(), as before the pool existed
    local = where.where != Where.OTHER_MACHINES
    loop = StudyLoop(
        sweeper_cfg, job_cfg, launcher.launch, arguments, parallel=where.batch, pool=pool, local=local
    )
    runs = None
    if sweeper_cfg.mlflow and "tracking" in job_cfg:
        check_tracking_server(job_cfg.tracking.uri)  # before a trial is asked
        runs = StudyRuns(job_cfg.tracking.uri, experiment_name(job_cfg))
    jobs_tracking = _warn_about_launcher(job_cfg, where, loop.opening.storage.url, runs)

    def on_start(study: optuna.Study) -> list[str]:
        if runs is None:
            return jobs_tracking
        runs.close_orphans(study)
        runs.record_unrecorded(study)
        return [f"study.parent_run_id={_open_parent(runs, loop, study)}", *jobs_tracking]

    study, status = None, "FINISHED"
    try:
        study = loop.run(on_start=on_start, on_trial=runs.record_trial if runs else None)
    except KeyboardInterrupt as e:
        status = "KILLED"  # stopped by the user, not failed: the same command resumes it
        said = f"{e}; " if str(e) else ""
        raise KeyboardInterrupt(
            f"{said}study {loop.study_name}: finished trials are stored, the same command resumes it"
        ) from None
    except BaseException:
        status = "FAILED"
        raise
    finally:
        study = study or _load(loop)
        _end(loop, runs, study, status)
    write_results(study, job_cfg.hydra.sweep.dir)


def _open_parent(runs: StudyRuns, loop: StudyLoop, study: optuna.Study) -> str:
    """The study's parent run, tagged with what defines the study; its id for every trial's job."""
    cfg, opening = loop.sweeper_cfg, loop.opening
    return runs.open_parent(
        study,
        {
            Tag.STORAGE: opening.storage_url,
            Tag.DIRECTIONS: ",".join(opening.directions),
            Tag.SAMPLER: cfg.sampler._target_,
            Tag.PRUNER: str((cfg.pruner or {}).get("_target_")),
            Tag.SEARCH_SPACE: " ".join(f"{k}={v}" for k, v in opening.distributions.items())[:5000],
        },
        created=opening.created,
    )


def _end(loop: StudyLoop, runs: StudyRuns | None, study: optuna.Study | None, status: str) -> None:
    """The trial table and the parent run's results and status, however the sweep ended; its name."""
    if study is not None:
        log.info("Trials of study %s:\n%s", study.study_name, format_table(trial_rows(study)))
        if runs is not None and runs.tracker.run_id is not None:
            runs.close_orphans(study)  # runs of trials whose worker died while this one went on
            if loop.stop_reason:
                runs.tracker.set_tags({Tag.STOP_REASON: loop.stop_reason})
            runs.finish(study, status)
    log.info("Study name: %s (sweeplab rerun --best / compare --sweep take it)", loop.study_name)


def _warn_about_launcher(
    job_cfg: DictConfig, where: Placement, storage_url: str, runs: StudyRuns | None
) -> list[str]:
    """The storage warning, one line before the first batch; and the overrides that give jobs started in
    another folder (an rq worker's, a Ray worker's) this sweep's MLflow store rather than their own
    ./mlruns. A launcher's own problems (an rq queue no worker serves) its plugin says itself."""
    tracking_uri = runs.tracker.uri if runs is not None else None
    if tracking_uri is None and "tracking" in job_cfg:
        tracking_uri = resolve_tracking_uri(job_cfg.tracking.uri)
    line = storage_warning(where, storage_url, tracking_uri)
    if line:
        log.warning(line)
    elsewhere = where.where != Where.IN_PROCESS and where.launcher not in ("joblib", "pool")
    if elsewhere and tracking_uri is not None and not job_cfg.tracking.uri:
        return [f"tracking.uri={quoted(tracking_uri)}"]
    return []


def _load(loop: StudyLoop) -> optuna.Study | None:
    """The study as stored, for a sweep that ended before the loop returned it; None if it was never made."""
    try:
        return optuna.load_study(study_name=loop.study_name, storage=loop.opening.storage)
    except KeyError:
        return None
