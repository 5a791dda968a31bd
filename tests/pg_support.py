"""One real PostgreSQL per test session, and a fresh database per test (a pytest plugin, loaded
by ``conftest.py``).

initdb refuses to run as root, so the server runs as the ``postgres`` user when the tests run as
root (``../shared/ENVIRONMENT.md``). Every test that needs PostgreSQL asks for ``pg_database``
(a new, empty database on the shared server) or ``postgres`` (the server's port).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.testing import free_port

_numbers = itertools.count(1)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(*argv: str) -> None:
    command = " ".join(f"'{a}'" for a in argv)
    if os.geteuid() == 0:
        subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", command], check=True, capture_output=True
        )
    else:
        subprocess.run(list(argv), check=True, capture_output=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[int]:
    """A PostgreSQL server on 127.0.0.1 for the whole session (trust auth); yields its port."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries not installed (Debian package 'postgresql')")
    data = Path(tempfile.mkdtemp(prefix="hopwatch-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    _as_postgres(initdb, "-D", str(data), "-A", "trust", "-U", "postgres")
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    _as_postgres(pg_ctl, "-D", str(data), "-o", opts, "-w", "-l", str(data / "log"), "start")
    try:
        yield port
    finally:
        _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


def pg_query(port: int, sql: str, params: list | None = None, dbname: str = "postgres") -> list:
    """Run one statement as the superuser (autocommit); the rows it returns, if any."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname=dbname, autocommit=True
    ) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def pg_database(postgres: int) -> str:
    """A new, empty database on the session's server; yields its name."""
    name = f"t{os.getpid()}_{next(_numbers)}"
    pg_query(postgres, f"CREATE DATABASE {name}")
    return name


def pg_url(port: int, dbname: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{dbname}"
