"""Text without code, bounded articles and bounded PDFs (issue #25): script-laden feeds, pages and files land as
text only, an over-long article is cut with a warning naming its setting, and a PDF bomb is cut or refused."""

from __future__ import annotations

import io
import json
import time

import pytest

import rag.articles.pdf
from rag.articles.article import Article, LoadFailure
from rag.articles.loaders import load_paths
from tests.conftest import make_settings
from tests.doubles.feeds_site import Page, article_page, atom, paragraphs, rss
from tests.support.cli import cli_main
from tests.support.feeds import texts

# Every piece of code in the fixtures says LEAK, so one check finds any of it in what was stored.
CODE = ("<script>location.href='http:/'+'/LEAK.example/';</script><style>.LEAK{color:red}</style>"
        "<noscript>LEAK noscript</noscript><template><p>LEAK template</p></template><iframe>LEAK iframe</iframe>"
        "<object>LEAK object</object><svg><text>LEAK svg</text></svg><!-- LEAK comment -->")
CUT_AT = 5000  # NEWSBOT_MAX_ARTICLE_CHARS for this module: an over-long article fits in a test


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    """test_feeds' services, with an article cap small enough to reach here."""
    from rag.services import build_services

    return build_services(make_settings(tmp_path_factory.mktemp("hostile"), allow_private_urls=True,
                                        fetch_read_timeout_s=0.5, fetch_total_timeout_s=5,
                                        max_article_chars=CUT_AT))


def stored(svc, lib) -> list[str]:
    """Everything the library shows a reader: titles, outlets and chunk text."""
    articles = svc.list_articles(libraries=(lib,))
    return [a.title for a in articles] + [a.source or "" for a in articles] + list(texts(svc, lib).values())


def _escaped(html: str) -> str:
    return html.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rss() -> bytes:
    # as in feedparser's sanitizer test feeds: escaped HTML in titles, a script between words
    return rss(_escaped(f"Harbour Herald{CODE}"), [{
        "guid": f"h-{i}", "link": f"https://herald.example/{i}", "title": _escaped(f"safe{CODE} description {i}"),
        "description": _escaped(f"<p>{paragraphs(f'Vaasa{i}', 2)[0]}</p>{CODE}<p>{paragraphs(f'Vaasa{i}', 2)[1]}</p>"),
    } for i in range(2)])


def _atom() -> bytes:
    return atom(_escaped(f"Harbour Herald{CODE}"), [{
        "id": f"urn:h:{i}", "link": f"https://herald.example/a{i}", "title": _escaped(f"safe{CODE} description {i}"),
        "content": f"<p>{paragraphs(f'Vaasa{i}', 2)[0]}</p>{CODE}<p>{paragraphs(f'Vaasa{i}', 2)[1]}</p>",
    } for i in range(2)])


def _json_feed() -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": f"Harbour Herald{CODE}", "items": [{
        "id": f"j{i}", "url": f"https://herald.example/j{i}", "title": f"safe{CODE} description {i}",
        "content_html": f"<p>{paragraphs(f'Vaasa{i}', 2)[0]}</p>{CODE}<p>{paragraphs(f'Vaasa{i}', 2)[1]}</p>",
        "date_published": "2024-11-12T08:00:00Z"} for i in range(2)]}).encode()


# ---- text without code -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, kind", [(_rss, "application/rss+xml"), (_atom, "application/atom+xml"),
                                        (_json_feed, "application/feed+json")], ids=["rss", "atom", "json"])
def test_a_script_laden_feed_lands_with_no_code_in_its_title_entry_titles_outlets_or_chunks(svc, lib, site, body,
                                                                                           kind):
    site.routes["/feed"] = Page(body(), kind)
    feed, _ = svc.add_feed(site.url("/feed"), library=lib, full_text="never")
    polled = svc.poll_feeds(library=lib)

    assert polled.new == 2 and polled.failed == []
    assert feed.title == "Harbour Herald" and svc.list_feeds(library=lib)[0].title == "Harbour Herald"
    assert sorted(a.title for a in svc.list_articles(libraries=(lib,))) == ["safe description 0",
                                                                            "safe description 1"]
    shown = stored(svc, lib)
    assert not [s for s in shown if "LEAK" in s or "<" in s]
    assert any(paragraphs("Vaasa1", 2)[1] in s for s in shown)  # the text around the code is all there


def script_page(title: str) -> bytes:
    """An article page with code in its metadata (title, og:title, site name), head, body and a template."""
    page = article_page(title, paragraphs("Kokkola")[:3] + [f"{CODE}A closing line from the harbour office."]
                        + paragraphs("Kokkola")[3:], site_name=f"&lt;style&gt;.LEAK{{}}&lt;/style&gt;Coast Post")
    return (page.replace(b"<title>", b"<title><script>LEAK()</script>")
            .replace(b'og:title" content="', b'og:title" content="&lt;script&gt;LEAK()&lt;/script&gt;')
            .replace(b"</head>", CODE.encode() + b"</head>"))


def test_a_script_laden_page_and_html_file_land_with_no_code_in_title_outlet_or_chunks(svc, lib, site, tmp_path):
    site.routes["/story.html"] = Page(script_page("Harbour works approved"), "text/html")
    (tmp_path / "story.html").write_bytes(script_page("Harbour dredging begins"))

    page = svc.ingest_url(site.url("/story.html"), library=lib)
    upload = svc.ingest(load_paths([tmp_path / "story.html"]), library=lib)

    assert len(page.added) == 1 and len(upload.added) == 1
    assert sorted((a.title, a.source) for a in svc.list_articles(libraries=(lib,))) == [
        ("Harbour dredging begins", "Coast Post"), ("Harbour works approved", "Coast Post")]
    shown = stored(svc, lib)
    assert not [s for s in shown if "LEAK" in s]
    assert all("A closing line from the harbour office." in s and paragraphs("Kokkola")[5] in s for s in shown[-2:])


def test_a_feed_title_holding_a_masked_link_shows_as_text_in_feeds_list():
    from bot.cogs.feeds import feed_line

    line = feed_line({"url": "https://herald.example/feed", "title": "[Verify your account](https://phish.example/x)",
                      "every_s": 1800, "paused": False, "next_due_ts": 2e9, "last_ok_ts": None, "entries": 0,
                      "last_error": None})
    assert "](" not in line and "Verify your account (`https://phish.example/x`)" in line


# ---- article size ------------------------------------------------------------------------------------------------

def _long_text(topic: str, chars: int) -> str:
    out, i = [], 0
    while sum(map(len, out)) < chars:
        out.append(paragraphs(f"{topic}{i}", 1)[0])
        i += 1
    return " ".join(out)


def test_an_over_long_feed_entry_is_stored_cut_at_a_sentence_end_with_a_warning_naming_the_setting(svc, lib, site):
    site.routes["/long.xml"] = Page(rss("Long Herald", [{"guid": "l1", "link": "https://herald.example/l1",
                                                         "title": "A very long report",
                                                         "description": _long_text("Pori", 3 * CUT_AT)}]))
    svc.add_feed(site.url("/long.xml"), library=lib, full_text="never")
    polled = svc.poll_feeds(library=lib)

    assert polled.new == 1 and polled.failed == []
    [warning] = [w for w in polled.warnings if "5,000-character limit (NEWSBOT_MAX_ARTICLE_CHARS)" in w]
    kept = int(warning.rpartition("kept the first ")[2].replace(",", ""))
    assert CUT_AT - 2000 < kept <= CUT_AT
    full, [text] = _long_text("Pori", 3 * CUT_AT), texts(svc, lib).values()
    assert full[kept - 1] == "." and text.endswith(full[kept - 200:kept]) and full[kept + 1:kept + 100] not in text


@pytest.mark.slow
def test_newsbot_ingest_cuts_an_over_long_file_warns_on_stderr_and_exits_0(tmp_path):
    (tmp_path / "long.txt").write_text("A very long report\n\n" + _long_text("Rauma", 4 * CUT_AT))
    env = {"NEWSBOT_DATA_DIR": str(tmp_path / "store"), "NEWSBOT_MAX_ARTICLE_CHARS": str(CUT_AT)}
    done = cli_main("ingest", str(tmp_path / "long.txt"), env=env)

    assert done.returncode == 0, done.stderr
    assert ("the text is over the 5,000-character limit (NEWSBOT_MAX_ARTICLE_CHARS): kept the first" in done.stderr
            and "added 1" in done.stderr)


def test_an_article_within_the_cap_is_stored_whole_and_a_longer_one_is_cut_near_it(tmp_path):
    (tmp_path / "fits.txt").write_text(" date 2024-11-12 Fits\n\n" + _long_text("Kemi", CUT_AT - 500))
    (tmp_path / "over.json").write_text(json.dumps([{"title": "Over", "body": _long_text("Tornio", 2 * CUT_AT)}]))
    fits, over = load_paths([tmp_path / "fits.txt", tmp_path / "over.json"], max_chars=CUT_AT)

    assert fits.body == _long_text("Kemi", CUT_AT - 500) and fits.warnings == ()
    assert over.warnings[-1] == (f"the text is over the 5,000-character limit (NEWSBOT_MAX_ARTICLE_CHARS): kept the "
                                 f"first {len(over.body):,}")
    assert CUT_AT - 2000 < len(over.body) <= CUT_AT and over.body.endswith("expected.")
    assert _long_text("Tornio", 2 * CUT_AT).startswith(over.body)


# ---- PDFs ------------------------------------------------------------------------------------------------------

def pdf(pages: int, lines: int, shared: bool = True, line: str = "The council approved the harbour works.") -> bytes:
    """`pages` pages of `lines` lines each, built with pypdf; with `shared`, every page draws one content stream
    object (the bomb: a few KB on disk, the stream's text once per page when read)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject(
        "/Subtype"): NameObject("/Type1"), NameObject("/BaseFont"): NameObject("/Helvetica")}))

    def content(number: int):
        stream = DecodedStreamObject()
        text = "".join(f"({line} Page {number}.) '\n" for _ in range(lines))
        stream.set_data(f"BT /F1 10 Tf 72 720 Td 12 TL\n{text}ET".encode("latin-1"))
        return writer._add_object(stream.flate_encode())

    one = content(1)
    for number in range(1, pages + 1):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/F1"): font})})
        page[NameObject("/Contents")] = one if shared else content(number)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_bomb_is_cut_at_the_character_cap_with_its_reason_well_within_the_deadline(tmp_path):
    bomb = pdf(pages=4, lines=25_000)  # 4 pages sharing one 1 MB content stream
    (tmp_path / "bomb.pdf").write_bytes(bomb)
    started = time.monotonic()
    [article] = load_paths([tmp_path / "bomb.pdf"])
    took = time.monotonic() - started

    assert len(bomb) < 10_000 and isinstance(article, Article)
    assert 190_000 < len(article.body) <= 200_000
    assert article.warnings[-1] == ("the text is over the 200,000-character limit (NEWSBOT_MAX_ARTICLE_CHARS): "
                                    f"kept the first {len(article.body):,}")
    assert took < rag.articles.pdf.PDF_DEADLINE_S


def test_a_pdf_past_its_deadline_is_refused_with_its_reason_and_the_other_files_load(tmp_path, monkeypatch):
    monkeypatch.setattr(rag.articles.pdf, "PDF_DEADLINE_S", 1.0)
    (tmp_path / "a-bomb.pdf").write_bytes(pdf(pages=8, lines=25_000))
    (tmp_path / "b-note.txt").write_text("Harbour note\n\nThe harbour office opens at nine on Monday.")
    started = time.monotonic()
    failure, note = load_paths([tmp_path], max_chars=10**8)

    assert time.monotonic() - started < 10  # the reader was killed at the deadline, not left to finish
    assert isinstance(failure, LoadFailure) and failure.reason.startswith("reading the PDF took over 1 s: refused")
    assert isinstance(note, Article) and note.title == "Harbour note"


def test_a_pdf_over_the_page_cap_keeps_its_first_pages_with_a_warning_naming_the_setting(tmp_path):
    (tmp_path / "long.pdf").write_bytes(pdf(pages=5, lines=3, shared=False))
    [article] = load_paths([tmp_path / "long.pdf"], pdf_max_pages=2)

    assert "Page 2." in article.body and "Page 3." not in article.body
    assert ("the PDF has 5 pages, over the 2-page limit (NEWSBOT_PDF_MAX_PAGES): read the first 2"
            in article.warnings)


def test_a_normal_pdf_still_loads_whole(tmp_path):
    (tmp_path / "report.pdf").write_bytes(pdf(pages=3, lines=40, shared=False))
    [article] = load_paths([tmp_path / "report.pdf"])

    assert all(article.body.count(f"Page {n}.") == 40 for n in (1, 2, 3))
    assert not [w for w in article.warnings if "limit" in w]
