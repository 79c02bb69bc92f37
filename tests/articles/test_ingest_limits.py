"""Issue #15's ingest hardening: control characters, metadata caps, deeply nested JSON."""

from __future__ import annotations

import json

from rag.articles.article import SOURCE_CHARS, TITLE_CHARS, Article, LoadFailure
from rag.articles.loaders import load_paths


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

    from rag.embeddings.embedders import make_embeddings
    from rag.errors import ModelError

    from tests.conftest import make_settings
    from tests.doubles.openai_double import OpenAIDouble, Reply

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
    for name in ("x.docx", "y.docx", "z.bin", ".hidden.docx"):
        (tmp_path / name).write_bytes(b"\0")
    with caplog.at_level(logging.WARNING, logger="rag.articles.loaders"):
        loaded = list(load_paths([tmp_path]))

    assert [a.title for a in loaded] == ["A headline"]
    assert f"{tmp_path}: ignored 3 files of types newsbot does not read: .docx ×2, .bin ×1" in caplog.text


def _pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal PDF with one text line per page (Helvetica), built here so no binary fixture is stored."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
                       "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    if title:
        objects.append(f"<< /Title ({title}) >>")
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_a_pdf_article_loads_with_its_pages_in_order(tmp_path):
    (tmp_path / "a.pdf").write_bytes(_pdf(["Finland warned of drones.", "The second page follows."],
                                          title="Drones over Helsinki"))
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 not really")
    loaded = list(load_paths([tmp_path]))

    [article] = [a for a in loaded if isinstance(a, Article)]
    assert article.title == "Drones over Helsinki"
    assert article.body.index("Finland warned") < article.body.index("second page")
    [failure] = [f for f in loaded if isinstance(f, LoadFailure)]
    assert failure.origin.endswith("bad.pdf") and "\n" not in failure.reason
