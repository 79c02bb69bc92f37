"""Server mode when a server goes away: PostgreSQL or Chroma lost in the middle of an ingest loses nothing already
stored, and the next run converges; several processes opening a new database at once agree on one store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.crash_points import open_server_index
from tests.support.crash_points import A1, A2, B, CTX

pytestmark = pytest.mark.slow  # PostgreSQL, `chroma run` and child processes

CHROMA = Path(sys.executable).parent / "chroma"


class Chroma:
    """A `chroma run` that can be stopped and started again on the same port and folder."""

    def __init__(self, path: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.path = path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.time() < deadline and self.proc.poll() is None, "chroma run did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def chroma(tmp_path):
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed beside this Python")
    server = Chroma(tmp_path / "chroma-server")
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def ingest_losing_a_server(data: Path, url: str, port: int, chroma_pid: int | None) -> None:
    """The child: an update during which Chroma (chroma_pid) or its PostgreSQL session goes away."""
    from rag.store import faults

    def hook(point: str) -> None:
        if chroma_pid and point == "ingest.journalled":
            os.kill(chroma_pid, signal.SIGKILL)
            time.sleep(0.5)
        if not chroma_pid and point == "ingest.before_commit":
            import psycopg

            with psycopg.connect(url, autocommit=True) as admin:  # every other session of this database ends
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()")

    faults.install(hook)
    open_server_index(data, url, port).ingest([A2])


def run_child(*args) -> int:
    proc = CTX.Process(target=ingest_losing_a_server, args=args)
    proc.start()
    proc.join(180)
    assert proc.exitcode is not None, "the ingest hung"
    return proc.exitcode


def lighthouse(index) -> str:
    held = next(a for a in index.list_articles() if a.article_id == A1.article_id)
    return " ".join(c.text for c in index.version_chunks(held.version_id))


@pytest.mark.parametrize("lost", ["chroma", "postgres"])
def test_a_server_lost_mid_ingest_keeps_what_was_stored_and_the_next_run_converges(lost, tmp_path, postgres_url,
                                                                                  chroma):
    data = tmp_path / "machine"
    index = open_server_index(data, postgres_url, chroma.port)
    assert index.ingest([A1, B]).ok
    index.db.close()

    assert run_child(data, postgres_url, chroma.port, chroma.proc.pid if lost == "chroma" else None) != 0
    if lost == "chroma":
        chroma.proc.wait(timeout=30)
        chroma.start()
    index = open_server_index(tmp_path / "after", postgres_url, chroma.port)
    assert {a.article_id for a in index.list_articles()} == {A1.article_id, B.article_id}  # nothing lost
    assert "brass gear" in lighthouse(index)  # A1 in its old version

    assert index.ingest([A2]).ok
    assert "LED array" in lighthouse(index)
    committed = {r[0] for r in index.db.execute("SELECT chunk_id FROM chunks")}
    assert set(index.vectors.ids()) == committed  # no vector orphaned, none missing

def test_processes_opening_a_new_database_at_once_agree_on_one_schema_and_one_collection(tmp_path, postgres_url,
                                                                                        chroma):
    names: list[str] = []
    errors: list[BaseException] = []

    def open_one(i: int) -> None:
        try:
            names.append(open_server_index(tmp_path / f"m{i}", postgres_url, chroma.port).vectors.name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(names) == 4 and len(set(names)) == 1
