"""Fixtures of the end-to-end tier: empty PostgreSQL databases for several workers on one study."""

import uuid

import pytest

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
