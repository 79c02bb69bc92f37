"""Library names: each Discord server writes its own (`guild-<id>`), the CLI the configured one (`default`)."""

from __future__ import annotations

import re

from rag.errors import LibraryError

DEFAULT_LIBRARY = "default"
LIBRARY_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

def check_library(name: str) -> str:
    """The library name if it is valid, else LibraryError saying what a name may be."""
    if not isinstance(name, str) or not LIBRARY_RE.fullmatch(name):
        shown = name if isinstance(name, str) else type(name).__name__
        hint = f" (try {name.lower()!r})" if isinstance(name, str) and LIBRARY_RE.fullmatch(name.lower()) else ""
        raise LibraryError(f"library name {shown!r} is not valid{hint}: use 1 to 64 lower-case letters, digits, "
                           "'.', '_' or '-', starting with a letter or digit")
    return name
