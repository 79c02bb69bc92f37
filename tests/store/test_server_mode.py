"""Server mode: two "machines" (data folders) share one PostgreSQL database and one `chroma run` server."""

from __future__ import annotations

import json

import pytest

from rag.articles.loaders import load_paths
from rag.errors import ConfigError, StoreError

from tests.conftest import SEEDS, make_settings
from tests.support.cli import newsbot

pytestmark = pytest.mark.slow  # PostgreSQL, `chroma run` and newsbot processes


@pytest.fixture
def servers(postgres_url, chroma_server):  # noqa: F811
    """The settings that put a process's store on the shared servers."""
    return {"NEWSBOT_DATABASE_URL": postgres_url, "NEWSBOT_CHROMA_HOST": "127.0.0.1",
            "NEWSBOT_CHROMA_PORT": str(chroma_server)}


def _services(data, servers):
    from rag.services import build_services

    return build_services(make_settings(data, database_url=servers["NEWSBOT_DATABASE_URL"], chroma_host="127.0.0.1",
                                        chroma_port=int(servers["NEWSBOT_CHROMA_PORT"])))


def test_an_article_ingested_on_one_machine_is_asked_listed_and_briefed_on_another(tmp_path, servers):
    a, b = tmp_path / "a", tmp_path / "b"
    newsbot("ingest", str(SEEDS), data=a, **servers)
    newsbot("--library", "sports", "ingest", str(SEEDS / next(p.name for p in SEEDS.iterdir())), data=a, **servers)

    answer = json.loads(newsbot("ask", "--json", "What did Trump warn Putin about?", data=b, **servers).stdout)
    listed = json.loads(newsbot("sources", "--json", data=b, **servers).stdout)
    libraries = json.loads(newsbot("libraries", "--json", data=b, **servers).stdout)
    briefing = json.loads(newsbot("brief", "--json", "--since", "2024-11-01", "--until", "2024-11-30", data=b,
                                  **servers).stdout)

    assert len({c["article_id"] for c in answer["citations"]}) == 2
    assert len(listed) == 2 and {row["library"] for row in libraries} == {"default", "sports"}
    assert briefing["stories"]
    assert not (b / "newsbot.sqlite3").exists() and not (b / "chroma").exists()  # B holds no store of its own


def test_a_long_running_process_sees_what_another_machine_wrote_and_removed_in_its_keyword_search(tmp_path,
                                                                                                  servers):
    reader, writer = _services(tmp_path / "reader", servers), _services(tmp_path / "writer", servers)
    assert reader.index.keyword_search("Putin", 5) == []

    assert writer.ingest(load_paths([SEEDS])).ok
    found = reader.index.keyword_search("Putin", 5)
    assert {reader.index.get_chunks([c])[c].article_id for c, _ in found} == \
        {a.article_id for a in writer.list_articles()}

    gone = writer.list_articles()[0].article_id
    assert writer.remove(gone)
    assert all(reader.index.get_chunks([c])[c].article_id != gone for c, _ in reader.index.keyword_search("Putin", 5))
    assert reader.index.vectors.name == writer.index.vectors.name  # one collection, whatever the data folder


def test_keyword_scores_in_server_mode_are_the_embedded_stores_own(tmp_path, servers):
    from rag.services import build_services

    embedded = build_services(make_settings(tmp_path / "embedded"))
    server = _services(tmp_path / "server", servers)
    for services in (embedded, server):
        assert services.ingest(load_paths([SEEDS])).ok
    for question in ("Putin warned Ukraine", "election win call", "military presence Europe"):
        assert [round(s, 9) for _, s in embedded.index.keyword_search(question, 10)] == \
            [round(s, 9) for _, s in server.index.keyword_search(question, 10)]


def test_a_database_of_a_newer_schema_is_refused_with_what_to_do(tmp_path, servers):
    first = _services(tmp_path / "a", servers)
    with first.index.db:
        first.index.store.set_meta("schema_version", "99")

    with pytest.raises(StoreError, match="schema 99.*upgrade newsbot"):
        _services(tmp_path / "b", servers)


def test_a_database_url_without_a_chroma_server_is_refused(tmp_path, postgres_url):
    from rag.services import build_services

    with pytest.raises(ConfigError, match="NEWSBOT_CHROMA_HOST"):
        build_services(make_settings(tmp_path, database_url=postgres_url))
    done = newsbot("sources", data=tmp_path, code=2, NEWSBOT_DATABASE_URL=postgres_url)
    assert len(done.stderr.strip().splitlines()) == 1 and "NEWSBOT_CHROMA_HOST" in done.stderr


@pytest.mark.parametrize("command", [("sources",), ("ask", "Who won?")])
def test_an_unreachable_or_wrong_database_url_is_one_line_and_exit_2(tmp_path, command):
    unreachable = f"postgresql://newsbot:secret@/newsbot?host={tmp_path}"
    for url, says in ((unreachable, "can't reach the database"), ("mysql://db/newsbot", "postgresql://")):
        done = newsbot(*command, data=tmp_path, code=2, NEWSBOT_DATABASE_URL=url, NEWSBOT_CHROMA_HOST="127.0.0.1")
        assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr
        assert "secret" not in done.stderr
