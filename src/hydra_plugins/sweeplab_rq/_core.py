# Copyright (c) Facebook, Inc. and its affiliates. All Rights Reserved
# From hydra-rq-launcher 1.2.0 (MIT). sweeplab's changes: rq 2's job.return_value(); a failed or
# vanished job comes back as a failed JobReturn with the worker's error, not None; the polling loop
# ends for stopped and canceled jobs too (it waited forever for them); before the first batch, one line
# when no worker serves the queue (it would wait for one without a word).
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker

from .config import SERIALIZER
from .rq_launcher import RQLauncher

log = logging.getLogger(__name__)
ENDED = ("finished", "failed", "stopped", "canceled")  # rq's JobStatus values a job never leaves


class StopAfterEnqueue(Exception):
    pass


class CloudpickleSerializer:
    """Both ways: a worker on rq's default pickle cannot store a JobReturn (its configs), and rq then
    keeps a placeholder string as the job's result."""

    dumps = staticmethod(cloudpickle.dumps)
    loads = staticmethod(cloudpickle.loads)


def execute_job(
    hydra_context: HydraContext,
    sweep_config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> JobReturn:
    """Runs in the rq worker."""
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def _queue(rq_cfg: DictConfig) -> Queue:
    if rq_cfg.redis.mock:
        from fakeredis import FakeStrictRedis

        log.info("Running in synchronous mode")
        return Queue(
            name=rq_cfg.queue, connection=FakeStrictRedis(), is_async=False, serializer=CloudpickleSerializer
        )
    connection = redis_connection(rq_cfg.redis)
    # cloudpickle: the task function is often defined in __main__ (train.py), which a worker cannot import.
    return Queue(name=rq_cfg.queue, connection=connection, serializer=CloudpickleSerializer)


def redis_connection(redis: DictConfig, **options: Any) -> Redis:
    """A client for the launcher's `redis` settings (also used to look for workers before the first batch)."""
    return Redis(
        host=redis.host,
        port=redis.port,
        db=redis.db,
        password=redis.password,
        ssl=redis.ssl,
        ssl_ca_certs=redis.ssl_ca_certs,
        **options,
    )


def workers_problem(rq_cfg: DictConfig) -> str | None:
    """The launcher waits forever for a queue nobody serves: the line that says so, or None."""
    redis_cfg, queue = rq_cfg.redis, rq_cfg.queue
    url = f"redis://{redis_cfg.host}:{redis_cfg.port}/{redis_cfg.db}"
    connection = redis_connection(redis_cfg, socket_connect_timeout=5)
    try:
        workers = [w for w in Worker.all(connection=connection) if queue in w.queue_names()]
    except RedisError as e:
        return f"hydra/launcher=rq: Redis at {url} does not answer ({e}); the sweep waits for it"
    finally:
        connection.close()
    if workers:
        return None
    return (
        f"hydra/launcher=rq: no rq worker serves queue {queue!r} at {url} yet; trials wait until one "
        f"starts: rq worker --url {url} -S {SERIALIZER} {queue}"
    )


def _enqueue_keywords(rq_cfg: DictConfig, description: str) -> dict[str, Any]:
    keywords = OmegaConf.to_container(rq_cfg.enqueue, resolve=True)
    for key in ("job_timeout", "result_ttl", "failure_ttl"):
        if keywords[key] is None:
            keywords[key] = -1  # no limit
    if keywords["job_id"] is None:
        keywords["job_id"] = str(uuid.uuid4())
    if keywords["description"] is None:
        keywords["description"] = description
    return keywords


def launch(
    launcher: RQLauncher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> Sequence[JobReturn]:
    setup_globals()
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    rq_cfg = launcher.rq
    if initial_job_idx == 0 and not rq_cfg.redis.mock:  # the sweep's first batch: said once, at its start
        problem = workers_problem(rq_cfg)
        if problem:
            log.warning(problem)
    queue = _queue(rq_cfg)
    singleton_state = Singleton.get_state()
    log.info(f"RQ Launcher is enqueuing {len(job_overrides)} job(s) in queue : {rq_cfg.queue}")
    log.info(f"Sweep output dir : {sweep_dir}")
    if not sweep_dir.is_absolute():
        log.warning("Using relative sweep dir: it is relative to the folder each worker was started in")
    loader = launcher.hydra_context.config_loader
    jobs = []
    for idx, overrides in enumerate(job_overrides):
        description = " ".join(filter_overrides(overrides))
        keywords = _enqueue_keywords(rq_cfg, description)
        sweep_config = loader.load_sweep_config(launcher.config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = keywords["job_id"]
            sweep_config.hydra.job.num = initial_job_idx + idx
        job = queue.enqueue(
            execute_job,
            hydra_context=launcher.hydra_context,
            sweep_config=sweep_config,
            task_function=launcher.task_function,
            singleton_state=singleton_state,
            **keywords,
        )
        jobs.append(job)
        log.info(f"Enqueued {job.id}")
        log.info(f"\t#{idx + 1} : {description}")
    log.info("Finished enqueuing")
    if rq_cfg.stop_after_enqueue:
        raise StopAfterEnqueue
    log.info(f"Polling job statuses every {rq_cfg.wait_polling} sec")
    while not all(job.get_status(refresh=True) in ENDED for job in jobs):
        time.sleep(rq_cfg.wait_polling)
    return [_job_return(job) for job in jobs]


def _job_return(job: Any) -> JobReturn:
    """The job's JobReturn; for a job the worker could not run to its end, a failed one with the reason."""
    if job.get_status() == "finished":
        result = job.return_value(refresh=True)  # the worker stored it after this Job was read
        if isinstance(result, JobReturn):
            return result
        return _failed(
            f"rq job {job.id}'s result could not be read ({str(result)[:60]}): "
            f"start workers with -S {SERIALIZER}"
        )
    latest = job.latest_result()
    error = (getattr(latest, "exc_string", None) or "").strip().splitlines()
    status = job.get_status()
    return _failed(
        f"rq job {job.id} ended {getattr(status, 'value', status)}: {error[-1] if error else 'no result'}"
    )


def _failed(reason: str) -> JobReturn:
    failed = JobReturn(status=JobStatus.FAILED)
    failed.return_value = RuntimeError(reason)
    return failed
