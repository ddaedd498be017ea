"""What runs in a trial's job process, not in the sweep's: the handle through which a training job reports
each epoch's objective to its Optuna trial, is told to stop (pruned), and beats while it trains.

The job finds its trial from the `study.*` overrides the sweep gave it (`sweeplab.protocol.study_overrides`)
and opens the same storage (`sweeplab.study.storage`, which both processes use: the sweep beats for a trial
from the moment it is asked until the job has loaded, the job while it trains). Nothing here imports the
sweep's loop, its MLflow parent run or a launcher.
"""

from sweeplab.study.job_side.trial import StudyTrial

__all__ = ["StudyTrial"]
