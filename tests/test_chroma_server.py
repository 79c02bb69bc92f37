"""Server mode: the same pipeline against a real `chroma run` on 127.0.0.1, chosen by host and port settings."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.answer import Query
from rag.articles import load_paths

from .conftest import SEEDS, make_settings

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture
def chroma_server(tmp_path):
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed beside this Python")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("chroma run did not start")
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_ingest_and_ask_through_a_chroma_server(tmp_path, chroma_server):
    from rag.services import build_services

    settings = make_settings(tmp_path / "local", chroma_host="127.0.0.1", chroma_port=chroma_server)
    services = build_services(settings)
    services.index.ingest(load_paths([SEEDS]))

    answer = services.ask(Query("What did Trump warn Putin about?"))

    assert len({c.article_id for c in answer.citations}) == 2
    assert not (tmp_path / "local" / "chroma").exists()  # the vectors live on the server
    assert (tmp_path / "server").exists()
    assert services.index.vectors.count() == services.index.stats()["chunks"]
