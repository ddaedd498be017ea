"""The RQ launcher's one-line checks against the real Redis on 127.0.0.1:6379, in process: no worker
serves the queue, or Redis does not answer."""

import socket
import uuid

import pytest
from omegaconf import OmegaConf

from helpers.sweeps import REDIS, redis_or_skip
from hydra_plugins.sweeplab_rq.config import SERIALIZER


def _rq_launcher_cfg(queue: str, port: int = 6379):
    """hydra.launcher as the RQ plugin reads it: its structured config with Redis on this machine."""
    from hydra_plugins.sweeplab_rq.config import RedisConf, RQLauncherConf

    return OmegaConf.structured(RQLauncherConf(queue=queue, redis=RedisConf(host="127.0.0.1", port=port)))


def test_rq_says_in_one_line_when_no_worker_serves_its_queue():
    pytest.importorskip("rq", reason="pip install -e '.[rq]' (rq and redis)")
    from hydra_plugins.sweeplab_rq._core import workers_problem

    redis_or_skip()
    queue = f"sweeplab-test-{uuid.uuid4().hex[:8]}"
    assert workers_problem(_rq_launcher_cfg(queue)) == (
        f"hydra/launcher=rq: no rq worker serves queue '{queue}' at {REDIS} yet; trials wait until one "
        f"starts: rq worker --url {REDIS} -S {SERIALIZER} {queue}"
    )


@pytest.mark.slow  # ~3 s: waits for a connection timeout
def test_rq_says_in_one_line_when_redis_does_not_answer():
    pytest.importorskip("rq", reason="pip install -e '.[rq]' (rq and redis)")
    from hydra_plugins.sweeplab_rq._core import workers_problem

    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = workers_problem(_rq_launcher_cfg("sweeplab", port))
    assert line.startswith(f"hydra/launcher=rq: Redis at redis://127.0.0.1:{port}/0 does not answer (")
    assert line.endswith("); the sweep waits for it") and "\n" not in line
