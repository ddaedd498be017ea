"""The Hydra adapter: Hydra hands over the config and launcher, sweeplab.study.loop runs the study."""

import logging
from typing import TYPE_CHECKING, Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    from sweeplab.study.launchers import Placement

log = logging.getLogger(__name__)


class OptunaSweeper(Sweeper):
    def __init__(self, **sweeper_cfg: Any) -> None:
        # Kept as config, not objects: the sampler is re-seeded from the study's state on every resume.
        self.sweeper_cfg = OmegaConf.create({k: v for k, v in sweeper_cfg.items() if k != "_recursive_"})

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # Before anything imports Optuna: beside the official plugin it may be Optuna 2.10.
        from sweeplab.errors import ConfigError
        from sweeplab.study.official_plugin import official_plugin_problem

        problem = official_plugin_problem()
        if problem is not None:
            raise ConfigError(problem)
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        # Imported here: Hydra imports every plugin at start-up, and most runs never sweep with Optuna.
        from sweeplab.protocol import Tag
        from sweeplab.runs.tracking import experiment_name
        from sweeplab.study.launchers import placement
        from sweeplab.study.loop import StudyLoop
        from sweeplab.study.results import write_results
        from sweeplab.study.runs import StudyRuns
        from sweeplab.study.table import format_table, trial_rows

        job_cfg = self.config
        where = placement(job_cfg)
        loop = StudyLoop(
            self.sweeper_cfg, job_cfg, self.launcher.launch, list(arguments), parallel=where.batch
        )
        runs = None
        if self.sweeper_cfg.mlflow and "tracking" in job_cfg:
            runs = StudyRuns(job_cfg.tracking.uri, experiment_name(job_cfg))
        jobs_tracking = _warn_about_launcher(job_cfg, where, loop.opening.storage.url, runs)

        def on_start(study) -> list[str]:
            if runs is None:
                return jobs_tracking
            runs.close_orphans(study)
            parent = runs.open_parent(
                study,
                {
                    Tag.STORAGE: loop.opening.storage_url,
                    Tag.DIRECTIONS: ",".join(loop.opening.directions),
                    Tag.SAMPLER: self.sweeper_cfg.sampler._target_,
                    Tag.PRUNER: str((self.sweeper_cfg.pruner or {}).get("_target_")),
                    Tag.SEARCH_SPACE: " ".join(f"{k}={v}" for k, v in loop.opening.distributions.items())[:5000],
                },
                created=loop.created,
            )
            return [f"study.parent_run_id={parent}", *jobs_tracking]

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
            if study is not None:
                log.info("Trials of study %s:\n%s", study.study_name, format_table(trial_rows(study)))
                if runs is not None and runs.tracker.run_id is not None:
                    runs.close_orphans(study)  # runs of trials whose worker died while this one went on
                    runs.finish(study, status)
            log.info("Study name: %s (sweeplab rerun --best / compare --sweep take it)", loop.study_name)
        write_results(study, job_cfg.hydra.sweep.dir)


def _warn_about_launcher(job_cfg: DictConfig, where: "Placement", storage_url: str, runs) -> list[str]:
    """The launcher's problems and storage warnings, one line each before the first batch; and the
    overrides that give jobs started in another folder (an rq worker's, a Ray worker's) this sweep's
    MLflow store rather than their own ./mlruns."""
    from sweeplab.study.launchers import Where, launcher_problem, storage_warning

    tracking_uri = runs.tracker.uri if runs is not None else None
    if tracking_uri is None and "tracking" in job_cfg:
        from sweeplab.runs.tracking import resolve_tracking_uri

        tracking_uri = resolve_tracking_uri(job_cfg.tracking.uri)
    for line in (storage_warning(where, storage_url, tracking_uri), launcher_problem(job_cfg, where)):
        if line:
            log.warning(line)
    elsewhere = where.where != Where.IN_PROCESS and where.launcher != "joblib"
    if elsewhere and tracking_uri is not None and not job_cfg.tracking.uri:
        return [f"tracking.uri={_quote(tracking_uri)}"]
    return []


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _load(loop):
    import optuna

    try:
        return optuna.load_study(study_name=loop.study_name, storage=loop.opening.storage)
    except KeyError:
        return None
