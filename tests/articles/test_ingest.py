"""Ingest: formats, idempotency, replacement, and bad inputs that are skipped with a reason."""

from __future__ import annotations

import json

import pytest

from rag.articles.loaders import load_paths
from rag.errors import StoreError

from tests.conftest import MULTIHOP, SEEDS, make_settings


def _ids(services):
    return sorted(r[0] for r in services.index.db.execute("SELECT chunk_id FROM chunks"))


def test_reingesting_unchanged_articles_changes_nothing(services):
    first = services.index.ingest(load_paths([SEEDS]))
    ids, stats = _ids(services), services.index.stats()
    again = services.index.ingest(load_paths([SEEDS]))

    assert len(first.added) == 2 and again.added == [] and len(again.unchanged) == 2
    assert _ids(services) == ids and services.index.stats() == stats
    assert services.index.vectors.count() == stats["chunks"]


@pytest.mark.slow
def test_a_changed_article_replaces_its_old_chunks(services, seeds_copy):
    services.index.ingest(load_paths([seeds_copy]))
    path = seeds_copy / "002_dd306845dcd00731.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("Washington", "Zanzibar"), encoding="utf-8")

    result = services.index.ingest(load_paths([seeds_copy]))

    assert len(result.updated) == 1 and len(result.unchanged) == 1
    texts = [r[0] for r in services.index.db.execute("SELECT text FROM chunks")]
    assert any("Zanzibar" in t for t in texts)
    assert not any("sizable military presence" in t and "Washington’s" in t for t in texts)
    assert services.index.vectors.count() == services.index.stats()["chunks"]


def test_remove_deletes_the_article_everywhere(services):
    services.index.ingest(load_paths([SEEDS]))
    victim = services.index.list_articles()[0].article_id

    assert services.index.remove(victim)
    assert victim not in {a.article_id for a in services.index.list_articles()}
    assert not services.index.vectors.collection.get(where={"article_id": victim}, include=[])["ids"]
    assert not services.index.remove(victim)


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("empty.txt", b"", "empty"),
    ("blank.md", b"   \n\n  ", "empty"),
    ("photo.txt", bytes(range(256)) * 40, "binary"),
    ("title-only.txt", b"Just a title\n", "no body"),
    ("bad.json", b'{"title": "x", "body": ', "malformed JSON"),
    ("nobody.json", b'[{"title": "No body here", "source": "X"}]', "no body"),
])
def test_a_bad_input_is_skipped_with_its_reason_and_the_rest_go_in(services, seeds_copy, name, content, reason):
    (seeds_copy / name).write_bytes(content)

    result = services.index.ingest(load_paths([seeds_copy]))

    assert len(result.added) == 2
    assert len(result.failed) == 1 and name in result.failed[0].origin
    assert reason in result.failed[0].reason
    assert services.index.stats()["articles"] == 2


def test_jsonl_reports_the_bad_line_and_keeps_the_good_ones(tmp_path):
    path = tmp_path / "feed.jsonl"
    good = {"title": "Good one", "body": "A body.", "source": "Wire", "url": "https://x.test/1",
            "published_at": "2024-01-02T10:00:00+00:00"}
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(good | {"url": "https://x.test/2"}) + "\n")

    items = list(load_paths([path]))

    failures = [i for i in items if not hasattr(i, "body")]
    assert len(items) == 3 and len(failures) == 1 and failures[0].origin.endswith("line 2")


def test_html_keeps_the_article_and_drops_the_navigation(tmp_path):
    paragraph = "The city council approved the new bridge budget on Tuesday after a long debate. " * 4
    html = f"""<html><head><title>Bridge approved | Daily Planet</title></head><body>
    <nav><a href="/">Home</a> <a href="/sports">Sports</a> Subscribe now for offers</nav>
    <article><h1>Bridge approved</h1><p>{paragraph}</p><p>Work starts in spring, officials said.</p></article>
    <footer>Copyright Daily Planet. Cookie settings. Privacy policy.</footer></body></html>"""
    (tmp_path / "page.html").write_text(html)

    [article] = list(load_paths([tmp_path / "page.html"]))

    assert "bridge budget" in article.body and "Work starts in spring" in article.body
    assert "Subscribe now" not in article.body and "Cookie settings" not in article.body


def test_seed_header_gives_title_and_date_and_drops_the_repeated_title():
    article = next(a for a in load_paths([SEEDS]) if a.title.startswith("Trump Warns"))

    assert str(article.published) == "2024-11-12"
    assert not article.body.startswith("Trump Warns Putin")


def test_source_option_overrides_and_undated_text_is_kept(tmp_path):
    (tmp_path / "note.md").write_text("# A title\n\nSome body text.\n")
    [article] = list(load_paths([tmp_path / "note.md"], source="My Blog"))
    assert (article.title, article.source, article.published) == ("A title", "My Blog", None)


@pytest.mark.skipif(not (MULTIHOP / "corpus.json").exists(), reason="needs ../shared/eval")
def test_multihop_corpus_loads_exactly_as_it_is():
    items = list(load_paths([MULTIHOP / "corpus.json"]))
    assert len(items) == 609 and all(hasattr(i, "body") for i in items)
    assert all(i.source and i.published and i.url for i in items)


def test_a_store_refuses_a_different_embedding_model(tmp_path):
    from langchain_core.embeddings import FakeEmbeddings

    from rag.store.index import NewsIndex, open_chroma
    from rag.services import build_services

    settings = make_settings(tmp_path / "s")
    build_services(settings).index.ingest(load_paths([SEEDS]))
    other = FakeEmbeddings(size=384)
    with pytest.raises(StoreError, match="built with embedding model"):
        NewsIndex(open_chroma(settings), other, settings.data_dir)


@pytest.mark.slow
def test_an_article_stored_before_versioned_chunk_ids_updates_cleanly(services, seeds_copy, monkeypatch):
    """Stores written before chunk ids named their version hold `article:index` ids; updating such an article
    replaces them (registry, keyword rows and vectors) with the new version's."""
    import rag.articles.chunking

    monkeypatch.setattr(rag.articles.chunking, "chunk_id", lambda article, i: f"{article.article_id}:{i:04d}")
    services.index.ingest(load_paths([seeds_copy]))
    old = _ids(services)
    assert all(i.count(":") == 1 for i in old)
    monkeypatch.undo()
    path = seeds_copy / "002_dd306845dcd00731.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("Washington", "Zanzibar"), encoding="utf-8")

    assert len(services.index.ingest(load_paths([seeds_copy])).updated) == 1

    ids = _ids(services)
    stored = set(services.index.vectors.ids())
    assert stored == set(ids) and len(ids) == services.index.stats()["chunks"]
    updated = {i for i in ids if i.count(":") == 2}  # the new version's ids; the unchanged article keeps its own
    assert updated and set(ids) - updated == {i for i in old if not i.startswith(next(iter(updated)).split(":")[0])}
    assert any("Zanzibar" in r[0] for r in services.index.db.execute("SELECT body FROM chunks_fts"))
