"""Named points in the store's write path where a test can inject a crash (docs/reliability.md, "Write protocol").

Nothing is installed in normal runs, so each point costs one global look-up. A crash test installs a hook in a child
process that calls `os._exit` at the n-th time a named point is reached, then checks the store from another process.
"""

from __future__ import annotations

from collections.abc import Callable

_hook: Callable[[str], None] | None = None


def install(hook: Callable[[str], None] | None) -> None:
    """Call `hook(name)` at every named point from now on (None removes it)."""
    global _hook
    _hook = hook


def point(name: str) -> None:
    """The write path has reached `name` (see the table in docs/reliability.md)."""
    if _hook is not None:
        _hook(name)
