# Copyright (c) Facebook, Inc. and its affiliates. All Rights Reserved
# From hydra-rq-launcher 1.2.0 (MIT); sweeplab's change: default_factory for the nested configs.
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import II

# Workers must store results with it: rq worker -S SERIALIZER
SERIALIZER = "hydra_plugins.sweeplab_rq._core.CloudpickleSerializer"


@dataclass
class RedisConf:
    host: str = II("oc.env:REDIS_HOST,localhost")
    port: int = II("oc.env:REDIS_PORT,'6379'")
    db: str | None = II("oc.env:REDIS_DB,'0'")
    password: str | None = II("oc.env:REDIS_PASSWORD,null")
    ssl: bool = II("oc.env:REDIS_SSL,'False'")
    ssl_ca_certs: str | None = II("oc.env:REDIS_SSL_CA_CERTS,null")
    # Run each job synchronously in the sweep's process on fakeredis (pip install fakeredis): for tests.
    mock: bool = II("oc.env:REDIS_MOCK,'False'")


@dataclass
class EnqueueConf:
    job_timeout: str | None = None  # maximum run time of a job ("1d", "2h", "30m"): default no limit
    ttl: str | None = None  # how long a job may wait in the queue before it is discarded
    result_ttl: str | None = None  # how long results are kept: default forever
    failure_ttl: str | None = None  # how long failed jobs are kept: default forever
    at_front: bool = False
    job_id: str | None = None
    description: str | None = None


@dataclass
class RQLauncherConf:
    _target_: str = "hydra_plugins.sweeplab_rq.rq_launcher.RQLauncher"
    enqueue: EnqueueConf = field(default_factory=EnqueueConf)
    queue: str = "default"
    redis: RedisConf = field(default_factory=RedisConf)
    stop_after_enqueue: bool = False  # raise StopAfterEnqueue once the jobs are queued
    wait_polling: float = 1.0  # seconds between looks at the jobs' statuses


ConfigStore.instance().store(group="hydra/launcher", name="rq", node=RQLauncherConf, provider="sweeplab_rq")
