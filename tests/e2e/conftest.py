"""Fixtures of the end-to-end tier: empty PostgreSQL databases for several workers on one study, failures
injected into the jobs of a `train.py -m` subprocess."""

import os
import uuid
from collections.abc import Callable

import pytest

from helpers import ROOT
from helpers.hooks import simulated_oom_overrides
from helpers.sweeps import POSTGRES


def _postgres_error() -> str | None:
    try:
        import psycopg

        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=3).close()
    except Exception as e:  # noqa: BLE001 - any failure means: no server to test against
        return f"{type(e).__name__}: {e}"
    return None


@pytest.fixture(scope="module")
def new_database():
    """Makes empty PostgreSQL databases, dropped at the end of the module."""
    error = _postgres_error()
    if error:
        pytest.skip(f"no PostgreSQL server answers on 127.0.0.1:5432 ({error})")
    import psycopg

    made = []

    def make() -> str:
        name = f"sweeplab_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return f"{POSTGRES}/{name}"

    yield make
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        for name in made:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def simulate_oom_in_jobs(monkeypatch) -> Callable[[int], list[str]]:
    """simulate_oom_in_jobs(N): the overrides under which a `train.py -m` subprocess's jobs run out of
    memory for batches above N (a test-only Hydra callback, importable there from tests/ put on the
    PYTHONPATH the subprocess inherits)."""
    paths = [str(ROOT / "tests"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return simulated_oom_overrides
