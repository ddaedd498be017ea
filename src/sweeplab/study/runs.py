"""MLflow for a study: one parent run (reused on resume), trial runs as children, results at the end."""

import csv
import logging
import tempfile
import time
import warnings
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeplab.protocol import Attr, Metric, Role, Tag, study_runs_filter
from sweeplab.runs.tracking import Tracker
from sweeplab.study.table import trial_rows

log = logging.getLogger(__name__)
PARENT_WAIT_S = 30  # how long a worker waits for the creator of a new study to make its parent run


class StudyRuns:
    def __init__(self, tracking_uri: str | None, experiment: str):
        self.tracker = Tracker(tracking_uri, experiment)
        self.client = self.tracker.client

    def open_parent(self, study: optuna.Study, description: dict[str, str], created: bool) -> str:
        """The study's one parent run, whichever of several concurrent workers gets here first.

        The worker that created the study (the storage's unique name makes that one worker) creates the
        run; the others wait for its id in the study's user attrs. A resumed study finds it there too.
        """
        run_id = study.user_attrs.get(Attr.PARENT_RUN)
        if run_id is None and not created and not study.get_trials(deepcopy=False):
            run_id = self._wait_for_parent(study)
        if run_id is None:  # a study made without MLflow, or whose creator died before making the run
            found = self.client.search_runs(
                [self.tracker.experiment_id],
                study_runs_filter(study.study_name, Role.STUDY),
                max_results=1,
            )
            run_id = found[0].info.run_id if found else None
        if run_id is None:
            run_id = self.tracker.start(
                f"study {study.study_name}",
                {Tag.STUDY: study.study_name, Tag.ROLE: Role.STUDY, **description},
            )
            study.set_user_attr(Attr.PARENT_RUN, run_id)
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.tracker.run_id = run_id
        return run_id

    @staticmethod
    def _wait_for_parent(study: optuna.Study) -> str | None:
        deadline = time.monotonic() + PARENT_WAIT_S
        while time.monotonic() < deadline:
            run_id = study.user_attrs.get(Attr.PARENT_RUN)  # read from the storage each time
            if run_id is not None:
                return run_id
            time.sleep(0.2)
        log.warning("No parent run for study %s after %d s: making one", study.study_name, PARENT_WAIT_S)
        return None

    def close_orphans(self, study: optuna.Study) -> None:
        """Child runs left RUNNING by a killed process: their trials are no longer running."""
        running = {str(t.number) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        for run in self.client.search_runs(
            [self.tracker.experiment_id],
            study_runs_filter(study.study_name, Role.TRIAL) + " and attributes.status = 'RUNNING'",
        ):
            if run.data.tags.get(Tag.TRIAL) not in running:
                self.client.set_tag(run.info.run_id, Tag.ERROR, "the process running this trial died")
                self.client.set_terminated(run.info.run_id, "KILLED")

    def record_unrecorded(self, study: optuna.Study) -> None:
        """Trials whose jobs told the study their result after the sweep that launched them died: their
        runs get the trial's state, as the sweep would have given them."""
        trials = {t.user_attrs.get(Attr.RUN): t for t in study.get_trials(deepcopy=False)}
        for run in self.client.search_runs(
            [self.tracker.experiment_id],
            study_runs_filter(study.study_name, Role.TRIAL) + " and attributes.status != 'RUNNING'",
            max_results=10_000,
        ):
            trial = trials.get(run.info.run_id)
            told = trial is not None and trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
            if told and Tag.TRIAL_STATE not in run.data.tags:
                self.record_trial(study, trial)

    def record_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Mirror the trial's final state onto its run (the job cannot know e.g. a non-finite objective)."""
        run_id = trial.user_attrs.get(Attr.RUN)
        if run_id is None:  # the job failed before it created a run
            return
        tags = {Tag.TRIAL_STATE: trial.state.name}
        tags.update({Tag.OPTUNA_PARAM_PREFIX + name: str(v) for name, v in trial.params.items()})
        # One write, not one per tag: the sweep does this between a trial's end and the next one's start.
        from mlflow.entities import RunTag  # here: a sweep of an app without tracking never imports MLflow

        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        if trial.state == TrialState.FAIL and self.client.get_run(run_id).info.status != "FAILED":
            self.client.set_tag(run_id, Tag.ERROR, trial.user_attrs.get(Attr.REASON, "failed"))
            self.client.set_terminated(run_id, "FAILED")

    def finish(self, study: optuna.Study, status: str = "FINISHED") -> None:
        """Best value and params, the trial table and Optuna's plots on the parent run."""
        run_id = self.tracker.run_id
        rows = trial_rows(study)
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "trials.csv"
            columns = list(dict.fromkeys(k for row in rows for k in row))
            with table.open("w", newline="") as f:
                writer = csv.DictWriter(f, columns)
                writer.writeheader()
                writer.writerows(rows)
            self.tracker.log_artifact(table)
            for path in _plots(study, Path(tmp)):
                self.tracker.log_artifact(path, "plots")
        counts = {
            state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,)))
            for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        }
        self.tracker.log_metrics({Metric.TRIALS_PREFIX + k: v for k, v in counts.items()}, step=len(rows))
        if len(study.directions) == 1 and counts["complete"]:
            best = study.best_trial
            self.tracker.log_metrics({Metric.BEST_VALUE: best.value}, step=len(rows))
            self.tracker.set_tags(
                {
                    Tag.BEST_TRIAL: best.number,
                    **{Tag.BEST_PARAM_PREFIX + k: v for k, v in best.params.items()},
                }
            )
        self.client.set_terminated(run_id, status)


def _plots(study: optuna.Study, folder: Path) -> list[Path]:
    """Optuna's matplotlib plots; one that cannot be drawn (too few trials) is skipped, not fatal."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ov

    if len(study.directions) > 1:
        makers = {"pareto_front": ov.plot_pareto_front}
    else:
        makers = {
            "optimization_history": ov.plot_optimization_history,
            "param_importances": ov.plot_param_importances,
            "intermediate_values": ov.plot_intermediate_values,
            "parallel_coordinate": ov.plot_parallel_coordinate,
        }
    paths = []
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return paths  # every plot needs complete trials (Optuna would warn once per plot)
    for name, make in makers.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = make(study)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            figure.set_size_inches(9, 5)
            figure.tight_layout()
            figure.savefig(folder / f"{name}.png", dpi=80)
            plt.close(figure)
            paths.append(folder / f"{name}.png")
        except Exception as e:  # noqa: BLE001 - a missing plot must not fail a finished study
            log.info("Skipped the %s plot: %s", name, e)
    return paths
