"""Library names: each Discord server writes its own (`guild-<id>`), the CLI the configured one (`default`)."""

from __future__ import annotations

import re

from rag.errors import LibraryError

DEFAULT_LIBRARY = "default"
GUILD_LIBRARY_PREFIX = "guild-"  # a Discord server's own library is guild-<server id>
LIBRARY_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

def check_library(name: str) -> str:
    """The library name if it is valid, else LibraryError saying what a name may be."""
    if not isinstance(name, str) or not LIBRARY_RE.fullmatch(name):
        shown = name if isinstance(name, str) else type(name).__name__
        hint = f" (try {name.lower()!r})" if isinstance(name, str) and LIBRARY_RE.fullmatch(name.lower()) else ""
        raise LibraryError(f"library name {shown!r} is not valid{hint}: use 1 to 64 lower-case letters, digits, "
                           "'.', '_' or '-', starting with a letter or digit")
    return name


def guild_library(guild_id: int) -> str:
    """The library that holds what Discord server `guild_id` ingests."""
    return f"{GUILD_LIBRARY_PREFIX}{guild_id}"


def guild_of(library: str) -> int | None:
    """The Discord server whose own library this is, or None for any other library."""
    guild = library.removeprefix(GUILD_LIBRARY_PREFIX)
    return int(guild) if guild != library and guild.isdigit() else None
