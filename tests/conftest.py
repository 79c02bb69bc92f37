"""The fixtures every test folder shares (this is the only conftest.py): a settings object on a temporary store, the
seeds ingested once per module, and for the feed tests a library name of their own and the local news site. A module
that needs a differently configured store or site defines its own fixture of the same name (pytest prefers it)."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest

from rag.cli.reading import SAMPLES
from rag.config import Settings
from tests.doubles.feeds_site import NewsSite
from tests.support.chroma import chroma_server  # noqa: F401  (fixtures for the server-mode tests)
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401

TESTS = Path(__file__).parent
ROOT = TESTS.parent  # the checkout: what a child process puts on PYTHONPATH
SEEDS = SAMPLES  # the two seed articles, shipped in rag/samples/ for `newsbot demo`
SHARED = TESTS.parent.parent / "shared"
MULTIHOP = SHARED / "eval" / "multihop-rag"


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch, tmp_path):
    """No test sees the developer's keys, .env or store."""
    for name in list(os.environ):
        if name.startswith(("NEWSBOT_", "OPENAI_", "DISCORD_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(tmp_path / "store"))


def make_settings(data_dir: Path, **overrides) -> Settings:
    """Settings for a store in `data_dir`, ignoring any .env."""
    return Settings(_env_file=None, data_dir=data_dir, **overrides)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "store")


@pytest.fixture
def services(settings):
    from rag.services import build_services

    return build_services(settings)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Services over a store holding the two seeds (built once per test module)."""
    from rag.articles.loaders import load_paths
    from rag.services import build_services

    services = build_services(make_settings(tmp_path_factory.mktemp("seeded")))
    result = services.index.ingest(load_paths([SEEDS]))
    assert result.ok and len(result.added) == 2
    return services


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Services over the two seeds ingested as two outlets, "Outlet A" and "Outlet B" (so the briefing has a
    story reported by both); built once per test module."""
    from rag.articles.loaders import load_paths
    from rag.services import build_services

    services = build_services(make_settings(tmp_path_factory.mktemp("store")))
    for path, outlet in zip(sorted(SEEDS.iterdir()), ("Outlet A", "Outlet B")):
        assert services.index.ingest(load_paths([path], source=outlet)).ok
    return services


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A writable copy of the seed folder."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


_libraries = itertools.count()


@pytest.fixture
def lib() -> str:
    """A library of this test's own in a module-scoped store (`svc` in the feed tests)."""
    return f"feeds-{next(_libraries)}"


@pytest.fixture
def site():
    """The local news site on 127.0.0.1 (tests/doubles/feeds_site.py), closed after the test."""
    with NewsSite() as s:
        yield s
