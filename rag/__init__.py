"""newsbot's retrieval pipeline: articles → chunks → Chroma → cited answers. Knows nothing of Discord.

The stages are folders, each above the ones it imports (kept so by the import-linter contracts in pyproject.toml):
`articles/` (loading, chunking) over `embeddings/`; `store/` over both; `retrieval/`; `answering/`; `briefing/`;
`feeds/`; then `services.py`, the one facade front ends use; `eval/`; `cli/`. Below them all: `text.py` (the one
text toolkit), `libraries.py`, `config.py`, `errors.py`, `schema.py`.

This module is the public API: `bot/` (and anything outside `rag/`) imports only from here, as
`from rag import Services`. Names are loaded on first use (PEP 562), so `import rag` costs nothing and a CLI
command pays only for what it touches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_API = {
    # the facade and its settings
    "Services": "rag.services", "build_services": "rag.services",
    "Settings": "rag.config", "settings_problems": "rag.config",
    # errors
    "NewsbotError": "rag.errors", "ConfigError": "rag.errors", "QuestionError": "rag.errors",
    "LibraryError": "rag.errors", "FollowError": "rag.follows.topic",
    # library names: a Discord server's own library
    "GUILD_LIBRARY_PREFIX": "rag.libraries", "guild_library": "rag.libraries",
    # what front ends send and get back
    "Query": "rag.answering.query", "query_day": "rag.answering.query",
    "Answer": "rag.schema", "Citation": "rag.schema", "OFFLINE_LABEL": "rag.answering.models",
    "CheckResult": "rag.answering.check", "ClaimCheck": "rag.answering.check",
    "IngestResult": "rag.store.index", "SUPPORTED": "rag.articles.loaders",
    "Briefing": "rag.briefing.build", "Story": "rag.briefing.build", "Schedule": "rag.briefing.schedule",
    # the days a briefing covers, as typed (each front end names its own option in the errors)
    "parse_day": "rag.briefing.dates", "last_days": "rag.briefing.dates",
    "claim_line": "rag.briefing.text", "story_dates": "rag.briefing.text",
    # text a front end shows
    "plural": "rag.text", "shown_url": "rag.feeds.urls",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
    else:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from rag.answering.query import Query, query_day
    from rag.answering.check import CheckResult, ClaimCheck
    from rag.answering.models import OFFLINE_LABEL
    from rag.articles.loaders import SUPPORTED
    from rag.briefing.build import Briefing, Story
    from rag.briefing.dates import last_days, parse_day
    from rag.briefing.schedule import Schedule
    from rag.briefing.text import claim_line, story_dates
    from rag.config import Settings, settings_problems
    from rag.errors import ConfigError, LibraryError, NewsbotError, QuestionError
    from rag.libraries import GUILD_LIBRARY_PREFIX, guild_library
    from rag.feeds.urls import shown_url
    from rag.follows.topic import FollowError
    from rag.schema import Answer, Citation
    from rag.services import Services, build_services
    from rag.store.index import IngestResult
    from rag.text import plural
