"""One PDF's text, read in a child process of its own: `rag.articles.pdf.parse_pdf` runs this file with `python -I` and
kills it at its deadline, so no PDF can hold a worker for long. Only pypdf is imported here.

stdin: the PDF's bytes; argv: the most pages and characters to read. stdout: one JSON object, either
{"title", "pages" (the PDF's page count), "texts" (the text of each page read)} or {"error": a reason to show}.
"""

import io
import json
import sys

# A 4 KB PDF can point every page at one 1 MB content stream; pypdf holds each decoded stream (up to 75 MB) and
# its parsed operators at once, so the address space is capped rather than left to the machine's memory.
MEMORY_BYTES = 1 << 30


class _Full(Exception):
    """The character budget is spent: stop extracting mid-page."""


def page_text(page, budget: int) -> str:
    """The page's text, stopped once it passes `budget` characters (pypdf has no limit of its own)."""
    parts, used = [], 0

    def visit(text, *_) -> None:
        nonlocal used
        parts.append(text)
        used += len(text)
        if used > budget:
            raise _Full

    try:
        return page.extract_text(visitor_text=visit) or ""
    except _Full:
        return "".join(parts)


def read(data: bytes, max_pages: int, max_chars: int) -> dict:
    """The title, page count and page texts, up to `max_pages` pages and about `max_chars` characters."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        return {"error": "the PDF is encrypted"}
    pages, texts, used = len(reader.pages), [], 0
    for number in range(min(pages, max_pages)):
        if used > max_chars:
            break
        text = page_text(reader.pages[number], max_chars - used).strip()
        texts.append(text)
        used += len(text)
    title = reader.metadata.title if reader.metadata else None
    return {"title": str(title) if title else None, "pages": pages, "texts": texts}


def main() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    except (ImportError, ValueError, OSError):  # not Linux, or a lower limit already set
        pass
    try:
        out = read(sys.stdin.buffer.read(), int(sys.argv[1]), int(sys.argv[2]))
    except MemoryError:
        out = {"error": f"reading the PDF needs over {MEMORY_BYTES >> 20} MB of memory: refused"}
    except Exception as exc:  # pypdf raises many types for a damaged file; the reason is the type's name
        out = {"error": f"not a readable PDF ({type(exc).__name__})"}
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
