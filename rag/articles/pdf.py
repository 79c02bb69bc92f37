"""A PDF to one article: its text read in a child process (rag/articles/pdf_child.py) under page, character and
time caps."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from rag.articles.article import MAX_ARTICLE_CHARS, Article, cap_article, make_article
from rag.errors import IngestError

logger = logging.getLogger(__name__)

PDF_MAX_PAGES = 200  # Settings.pdf_max_pages's default, for callers without Settings
# Seconds a PDF's text may take to read, in a child process killed when they pass (rag/articles/pdf_child.py). Normal PDFs
# take well under a second; a 4 KB PDF of 4 pages sharing one 1 MB content stream took 3.5 s before the caps.
PDF_DEADLINE_S = 20.0


def parse_pdf(data: bytes, origin: str, source: str | None, today: date | None = None,
              max_chars: int = MAX_ARTICLE_CHARS, max_pages: int = PDF_MAX_PAGES) -> Article:
    """A PDF's pages' text in page order (pypdf), up to `max_pages` pages and about `max_chars` characters (cut
    with a warning); its title from the document info, else the first line."""
    out = read_pdf(data, max_chars, max_pages)
    body = "\n\n".join(p for p in out["texts"] if p)
    if not body:
        raise IngestError("the PDF has no text (a scan needs OCR first)")
    article = make_article(title=out["title"], body=body, origin=origin, source=source, today=today)
    if out["pages"] > max_pages:
        article = replace(article, warnings=(*article.warnings, (
            f"the PDF has {out['pages']:,} pages, over the {max_pages:,}-page limit (NEWSBOT_PDF_MAX_PAGES): "
            f"read the first {max_pages:,}")))
    return cap_article(article, max_chars)


def read_pdf(data: bytes, max_chars: int, max_pages: int) -> dict:
    """rag/articles/pdf_child.py's answer ({"title", "pages", "texts"}), run in a child killed at `PDF_DEADLINE_S`."""
    child = Path(__file__).with_name("pdf_child.py")
    try:
        done = subprocess.run([sys.executable, "-I", str(child), str(max_pages), str(max_chars)], input=data,
                              capture_output=True, timeout=PDF_DEADLINE_S)
    except subprocess.TimeoutExpired:
        raise IngestError(f"reading the PDF took over {PDF_DEADLINE_S:g} s: refused (a PDF built to exhaust the "
                          "reader looks like this; convert it to text and ingest that)") from None
    try:
        out = json.loads(done.stdout)
    except ValueError:
        logger.warning("PDF reader exited %s: %s", done.returncode, done.stderr[-500:].decode(errors="replace"))
        raise IngestError(f"the PDF reader failed (exit status {done.returncode})") from None
    if "error" in out:
        raise IngestError(out["error"])
    return out
