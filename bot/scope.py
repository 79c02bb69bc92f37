"""Which libraries a Discord server reads and writes, and which servers the bot serves: the policy, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from rag import GUILD_LIBRARY_PREFIX, guild_library


@dataclass(frozen=True)
class Scope:
    """The libraries one place (a server, or DMs) may read, and the one it writes (None: it writes nothing)."""

    reads: tuple[str, ...]
    writes: str | None


def shared_problem(shared: tuple[str, ...]) -> str | None:
    """Why these shared libraries can't be served, or None: a server's own library shared with every server
    would let that server's admins write into what every server (and every DM) reads."""
    own = [name for name in shared if name.startswith(GUILD_LIBRARY_PREFIX)]
    if own:
        return (f"NEWSBOT_SHARED_LIBRARIES: {own[0]!r} is a server's own library (names starting "
                f"{GUILD_LIBRARY_PREFIX!r} are); share a library of your own instead")
    return None


def scope_of(guild_id: int | None, shared: tuple[str, ...]) -> Scope:
    """Server G reads its own library plus the operator's shared ones and writes only its own; DMs (no server)
    read only the shared libraries, so a DM never shows what any server ingested."""
    if guild_id is None:
        return Scope(reads=tuple(shared), writes=None)
    own = guild_library(guild_id)
    return Scope(reads=(own, *(name for name in shared if name != own)), writes=own)


def serves(guild_id: int | None, allowed: frozenset[int] | None) -> bool:
    """Whether the bot answers in this server (DMs: always); `allowed` None means every server."""
    return guild_id is None or allowed is None or guild_id in allowed
