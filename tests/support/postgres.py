"""A real PostgreSQL for the tests: Debian's `initdb`/`pg_ctl` into a temporary folder, a Unix socket only.

One server per test session (per xdist worker), started on first use; each test gets an empty database of its own
(`postgres_url`). `initdb` refuses root, so as root the cluster is created and run as the `postgres` user (the
Debian package's). Where no PostgreSQL can be started the tests that need it are skipped, saying why.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

_counter = itertools.count()


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in argv)]


class PostgresServer:
    """A throwaway cluster; `url(name)` names a database on it."""

    def __init__(self) -> None:
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not pg_ctl:
            pytest.skip("PostgreSQL is not installed (initdb/pg_ctl not found); .ci/run installs it with apt")
        self.pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
        os.chmod(self.root, 0o777)  # the server user writes its data and socket here
        self.data = self.root / "data"
        self.user = "postgres"
        steps = [
            [initdb, "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-sync"],
            [pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
             f"-k {self.root} -c listen_addresses= -c fsync=off -c max_connections=200", "start"],
        ]
        for argv in steps:
            done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
                pytest.skip(f"PostgreSQL could not be started: {done.stderr.strip() or done.stdout.strip()} {log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@/{database}?host={self.root}"

    def create_database(self) -> str:
        import psycopg

        name = f"newsbot_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(_as_server_user([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """An empty database of this test's own on the session's PostgreSQL."""
    return postgres_server.create_database()
