"""An update of an existing article is atomic: a process killed with SIGKILL during the update leaves the old version
or the new one visible, whole, never neither and never a mix; the next write sweeps what it left. Real kills, the
real embedder and a fresh process reading the store; tests/store/test_crash_points.py covers every named point."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.articles.article import make_article
from rag.retrieval.retriever import NewsRetriever

from tests.conftest import ROOT, make_settings
from tests.support.cli import env_for

pytestmark = pytest.mark.slow  # child processes killed mid-update

URL = "https://x.test/ferry"


def version(colour: str):
    """A five-chunk article whose every sentence names its version's colour."""
    body = "\n\n".join(f"Paragraph {i}: the {colour} ferry to Port Ellery left at {i} o'clock, the harbour master "
                       f"said, and the {colour} flags flew over the pier. " * 6 for i in range(5))
    return make_article(title="Ferry timetable", body=body, origin="test", source="Coast Wire",
                        published="2024-05-02", url=URL)


CHILD = """
import os, signal, sys
from rag.config import Settings
from rag.services import build_services
from rag.store import faults
from tests.store.test_update_crash import version

point, colour = sys.argv[1], sys.argv[2]
faults.install(lambda name: os.kill(os.getpid(), signal.SIGKILL) if name == point else None)
build_services(Settings()).ingest([version(colour)])
print("finished")
"""


def run_child(data: Path, point: str, colour: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), point, colour], env=env_for(data),
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def visible(data: Path) -> str:
    """Which version a fresh process sees, after checking it is whole: 'amber' or 'violet'."""
    from rag.services import build_services

    services = build_services(make_settings(data))
    [article] = services.list_articles()
    chunks = services.index.version_chunks(article.version_id)
    assert len(chunks) == article.chunks >= 5
    colours = {c for c in ("amber", "violet") if any(c in chunk.text for chunk in chunks)}
    assert len(colours) == 1, colours  # never a mix
    committed = [c.chunk_id for c in chunks]
    assert sorted(services.index.vectors.ids(committed)) == sorted(committed)  # every committed chunk has its vector
    for mode in ("bm25", "dense"):
        docs = NewsRetriever(index=services.index, k=10, mode=mode).invoke("amber violet ferry flags")
        assert docs and {d.metadata["chunk_id"] for d in docs} <= set(committed), mode
    services.index.db.close()
    return colours.pop()


@pytest.mark.parametrize(("point", "expected"), [("ingest.embedded", "amber"), ("ingest.vectors_upserted", "amber"),
                                                 ("ingest.committed", "violet")])
def test_a_kill_mid_update_leaves_one_whole_version_and_a_rerun_converges(tmp_path, point, expected):
    data = tmp_path / "store"
    assert "finished" in run_child(data, "none", "amber").stdout

    crashed = run_child(data, point, "violet")

    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert visible(data) == expected
    assert "finished" in run_child(data, "none", "violet").stdout  # the same command again
    assert visible(data) == "violet"
    from rag.services import build_services

    services = build_services(make_settings(data))
    assert services.index.vectors.count() == services.stats()["chunks"]  # the sweep took the leftovers
    assert services.index.db.execute("SELECT COUNT(*) FROM vector_journal").fetchone()[0] == 0
