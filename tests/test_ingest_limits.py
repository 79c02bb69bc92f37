"""Issue #15's ingest hardening: control characters, metadata caps, deeply nested JSON."""

from __future__ import annotations

import json

from rag.articles import SOURCE_CHARS, TITLE_CHARS, Article, LoadFailure, load_paths


def test_terminal_escapes_and_control_characters_are_stripped_at_ingest(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"title": "Red \x1b[31mALERT\x1b[0m\x07 title", "source": "Out\x00let",
                                "body": "A body\x1b]0;pwned\x07 with\tescapes.\x08\nSecond line."}))
    [article] = load_paths([path])

    assert article.title == "Red ALERT title" and article.source == "Outlet"
    assert article.body == "A body with\tescapes.\nSecond line."


def test_title_source_and_url_are_capped_and_the_cut_is_reported(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"title": "word " * 1000, "source": "s" * 500, "url": "https://x.example/" + "a" * 5000,
                                "body": "A body."}))
    [article] = load_paths([path])

    assert isinstance(article, Article)
    assert len(article.title) <= TITLE_CHARS and article.title.endswith("…")
    assert len(article.source) == SOURCE_CHARS and article.url is None
    assert sum("characters" in w for w in article.warnings) == 3


def test_deeply_nested_json_is_a_one_line_error_per_file(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "deep.jsonl").write_text('{"title": "ok", "body": "fine."}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    results = list(load_paths([tmp_path]))

    failures = [r for r in results if isinstance(r, LoadFailure)]
    assert [f.origin.rsplit("/", 1)[-1] for f in failures] == ["deep.json", "deep.jsonl line 2"]
    assert all("nested too deeply" in f.reason and "\n" not in f.reason for f in failures)
    assert [a.title for a in results if isinstance(a, Article)] == ["ok"]


def test_an_openai_embedding_error_names_its_class_and_status_never_its_text(tmp_path, caplog):
    import logging
    import traceback

    import pytest

    from rag.embeddings import make_embeddings
    from rag.errors import ModelError

    from .conftest import make_settings
    from .openai_double import OpenAIDouble, Reply

    secret = "sk-embed-never-print-me-456"
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {secret}", "type": "invalid_request_error",
                                 "code": "invalid_api_key"}}).encode()
    with OpenAIDouble() as api:
        api.default = Reply(status=401, raw=echo)
        settings = make_settings(tmp_path, embedding_provider="openai", openai_api_key=secret,
                                 openai_base_url=api.base_url, llm_max_retries=0)
        with pytest.raises(ModelError) as caught, caplog.at_level(logging.DEBUG):
            make_embeddings(settings).embed_query("drones over Helsinki")

    assert api.requests[0]["path"].endswith("/embeddings")
    shown = "".join(traceback.format_exception(caught.value)) + caplog.text
    assert "AuthenticationError, HTTP 401" in str(caught.value) and secret not in shown


def test_a_folder_ingest_names_the_files_it_ignores_by_type(tmp_path, caplog):
    import logging

    (tmp_path / "a.txt").write_text("A headline\n\nA body.")
    for name in ("x.pdf", "y.pdf", "z.bin", ".hidden.pdf"):
        (tmp_path / name).write_bytes(b"\0")
    with caplog.at_level(logging.WARNING, logger="rag.articles"):
        loaded = list(load_paths([tmp_path]))

    assert [a.title for a in loaded] == ["A headline"]
    assert f"{tmp_path}: ignored 3 files of types newsbot does not read: .pdf ×2, .bin ×1" in caplog.text
