"""Load article files and folders into `Article`s: the folder walk, each file's format chosen by its suffix."""

from __future__ import annotations

import errno
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

from rag.articles.article import MAX_ARTICLE_CHARS, Article, LoadFailure, cap_article
from rag.articles.decode import decode_text
from rag.articles.formats import parse_html, parse_json, parse_jsonl, parse_text
from rag.articles.pdf import PDF_MAX_PAGES, parse_pdf
from rag.errors import IngestError
from rag.text import plural

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ""}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES | PDF_SUFFIXES


def load_file(
    path: Path, source: str | None = None, max_bytes: int = 10 * 1024 * 1024, today: date | None = None,
    max_chars: int = MAX_ARTICLE_CHARS, pdf_max_pages: int = PDF_MAX_PAGES,
) -> Iterator[Article | LoadFailure]:
    """Every article in one file, each cut to `max_chars`; failures are yielded, never raised."""
    origin = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"file is {size:,} bytes, over the {max_bytes:,}-byte limit")
        if path.suffix.lower() in PDF_SUFFIXES:
            yield parse_pdf(path.read_bytes(), origin, source, today, max_chars, pdf_max_pages)
            return
        text, note = decode_text(path.read_bytes())
        yield from _finish(_parse(path, text, origin, source, today), note, max_chars)
    except IngestError as exc:
        yield LoadFailure(origin, str(exc))
    except OSError as exc:
        loop = exc.errno == errno.ELOOP
        yield LoadFailure(origin, "symlink loop: the link points back at itself" if loop
                          else f"cannot read: {exc.strerror}")
    except UnicodeError as exc:
        yield LoadFailure(origin, f"cannot read: {exc}")


def _parse(path: Path, text: str, origin: str, source: str | None,
           today: date | None) -> Iterator[Article | LoadFailure]:
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        yield from parse_json(text, origin, source, today)
    elif suffix in JSONL_SUFFIXES:
        yield from parse_jsonl(text, origin, source, today)
    elif suffix in HTML_SUFFIXES:
        yield parse_html(text, origin, source, today)
    else:
        yield parse_text(text, origin, source, today)


def _finish(items: Iterable[Article | LoadFailure], note: str | None,
            max_chars: int) -> Iterator[Article | LoadFailure]:
    """Each article with the file's decoding note, and cut to `max_chars`."""
    for item in items:
        if isinstance(item, Article):
            item = cap_article(replace(item, warnings=(note, *item.warnings)) if note else item, max_chars)
        yield item


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path | LoadFailure]:
    """Expand files and folders (recursively, sorted, symlink loops cut) into files to load."""
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            yield LoadFailure(str(path), _missing_reason(path))
        elif path.is_dir():
            yield from _walk(path)
        else:
            yield path


def _missing_reason(path: Path) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop: the link points back at itself"
        if path.is_symlink():
            return "broken symlink: its target does not exist"
    return "no such file or folder"


def _walk(root: Path) -> Iterator[Path | LoadFailure]:
    seen: set[str] = set()
    ignored: Counter[str] = Counter()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            yield LoadFailure(folder, "symlink loop: folder already visited")
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith("."):
                continue
            if path.suffix.lower() not in SUPPORTED:
                ignored[path.suffix.lower() or "(no extension)"] += 1
                continue
            yield path
    if ignored:  # not a failure (the folder's articles load); said, so a file of the wrong type isn't lost silently
        logger.warning("%s: ignored %s of types newsbot does not read: %s", root,
                       plural(sum(ignored.values()), "file"),
                       ", ".join(f"{ext} ×{n}" for ext, n in sorted(ignored.items(), key=lambda x: (-x[1], x[0]))))


def load_paths(
    paths: Iterable[str | Path], source: str | None = None, max_bytes: int = 10 * 1024 * 1024,
    today: date | None = None, max_chars: int = MAX_ARTICLE_CHARS, pdf_max_pages: int = PDF_MAX_PAGES,
) -> Iterator[Article | LoadFailure]:
    """Every article under the given paths, with one LoadFailure per input that was skipped."""
    for item in iter_files(paths):
        if isinstance(item, LoadFailure):
            yield item
        else:
            yield from load_file(item, source, max_bytes, today, max_chars, pdf_max_pages)
