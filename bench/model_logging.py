"""What logging a run's MLflow model costs: `log_model` timed inside real demo runs, in one process.

Each run trains the demo's seed_cnn_mini for one epoch into a fresh SQLite store and logs its model as
every run does: the weights, the spec, the MLflow model (MLmodel, environment files, the sweeplab code)
and their upload into the store's artifact folder. The first run of a process also loads MLflow's model
code; a sweep's later trials do not. Goal: under 0.2 s per run after the first.

    python bench/model_logging.py [--runs 6]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

import sweeplab.training.job as job_module
from sweeplab.training.model_out import log_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    seconds: list[float] = []

    def timed(job, tracker, result) -> None:
        start = time.perf_counter()
        log_model(job, tracker, result)
        seconds.append(time.perf_counter() - start)

    job_module.log_model = timed  # the job's own call, timed
    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        overrides = [
            "trainer.epochs=1",
            "trainer.progress=false",
            f"data.cache_dir={Path(tmp) / 'cache'}",
            f"tracking.uri=sqlite:///{Path(tmp) / 'mlflow.db'}",
        ]
        for n in range(args.runs):
            job_module.run(compose("config", overrides=overrides), output_dir=Path(tmp) / f"run{n}")
    first, median = seconds[0], statistics.median(seconds[1:])
    print(f"log_model in {args.runs} demo runs, one process, CPU")
    print(f"first run {first:.3f} s; later runs median {median:.3f} s, max {max(seconds[1:]):.3f} s")
    print(f"goal: < 0.2 s per run after the first: {'met' if median < 0.2 else 'NOT met'}")


if __name__ == "__main__":
    main()
