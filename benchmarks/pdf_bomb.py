"""A PDF bomb (pages sharing one 1 MB content stream, built with pypdf) read the old way (pypdf in-process, every
page) and the new way (rag.articles.loaders.load_paths: a child process, page and character caps, a deadline).

    PYTHONPATH=. python benchmarks/pdf_bomb.py

Prints, per bomb: its size, the characters kept, wall time and the reader's peak memory (max RSS of the process
that ran pypdf; both are run in a fresh child so the figures compare).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.articles.test_hostile_text import pdf

# Each prints what it kept and the peak RSS (KB) of the process that ran pypdf: itself, or its PDF child.
OLD = """import io, resource, sys
from pypdf import PdfReader
reader = PdfReader(io.BytesIO(open(sys.argv[1], 'rb').read()))
kept = len("\\n\\n".join((p.extract_text() or "").strip() for p in reader.pages))
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
NEW = """import resource, sys
from pathlib import Path
from rag.articles.loaders import load_paths
[item] = load_paths([Path(sys.argv[1])])
print(len(item.body) if hasattr(item, 'body') else 'refused',
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(code: str, path: Path) -> tuple[str, float, float]:
    """(characters kept, wall seconds, the pypdf process's peak RSS in MB)."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    took = time.monotonic() - started
    kept, peak_kb = out.stdout.split()
    return kept, took, int(peak_kb) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for pages in (4, 16):
            path = Path(folder) / f"bomb-{pages}.pdf"
            path.write_bytes(pdf(pages=pages, lines=25_000))
            print(f"bomb: {pages} pages sharing one 1 MB content stream, {path.stat().st_size:,} bytes on disk")
            for name, code in (("old", OLD), ("new", NEW)):
                kept, took, peak = measure(code, path)
                print(f"  {name}: kept {kept} characters in {took:.2f} s, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
