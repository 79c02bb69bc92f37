"""An update of an existing article is atomic: a process killed (SIGKILL) at any step of the update leaves the old
version or the new one visible, whole, never neither and never a mix; the next write sweeps what it left."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.articles import make_article
from rag.retrieve import NewsRetriever

from .conftest import make_settings
from .test_reliability_crash import env_for

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
from rag.store import ingest
from tests.test_store_update_crash import version

point, colour = sys.argv[1], sys.argv[2]
services = build_services(Settings())

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def after(method):
    def wrapped(*args, **kwargs):
        result = method(*args, **kwargs)
        die()
    return wrapped

if point == "after_embedding":
    embed = services.index.embeddings.embed_documents
    services.index.embeddings.embed_documents = after(embed)
elif point == "after_upsert":
    ingest.Vectors.upsert = after(ingest.Vectors.upsert)
elif point == "after_commit":
    ingest.Writer._delete_vectors = lambda self, ids: die() if ids else None
services.ingest([version(colour)])
print("finished")
"""


def run_child(data: Path, point: str, colour: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), point, colour], env=env_for(data),
                          capture_output=True, text=True, timeout=300, cwd=root)


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


@pytest.mark.parametrize(("point", "expected"), [("after_embedding", "amber"), ("after_upsert", "amber"),
                                                 ("after_commit", "violet")])
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
