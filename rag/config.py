"""Settings, read once from the environment and `.env`, then passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.errors import LibraryError
from rag.libraries import check_library


LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2-int8-onnx"  # the offline embedder's name in a store (rag/embeddings/embedders.py)


def default_data_dir() -> Path:
    """Where the store lives unless NEWSBOT_DATA_DIR says otherwise (XDG data home)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "newsbot"


class Settings(BaseSettings):
    """Every setting newsbot reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        env_ignore_empty=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    library: str = "default"  # the library the CLI reads and writes (`newsbot --library NAME`)
    database_url: str | None = None  # postgresql://… : the registry on PostgreSQL (docs/deploy.md); empty = SQLite
    chroma_host: str | None = None
    chroma_port: int | None = None

    embedding_provider: Literal["local", "openai"] = "local"
    openai_embedding_model: str = "text-embedding-3-small"
    embed_batch_size: int = Field(default=32, ge=1, le=1024)

    chunk_tokens: int = Field(default=256, ge=32, le=512)
    chunk_overlap: int = Field(default=32, ge=0, le=256)

    llm: Literal["auto", "stub", "openai"] = "auto"
    openai_model: str = "gpt-4o-mini"
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "NEWSBOT_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "NEWSBOT_OPENAI_BASE_URL")
    )
    llm_timeout_s: float = Field(default=30.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    temperature: float = 0.0

    top_k: int = Field(default=6, ge=1, le=50)
    max_question_chars: int = Field(default=1000, ge=10)
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    ingest_batch_chunks: int = Field(default=256, ge=1, le=4096)

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "NEWSBOT_DISCORD_TOKEN")
    )
    discord_guild_id: int | None = None
    ask_timeout_s: float = Field(default=60.0, gt=0)
    ask_concurrency: int = Field(default=4, ge=1)
    ask_cooldown_s: float = Field(default=10.0, ge=0)
    ask_cooldown_rate: int = Field(default=3, ge=1)
    answer_buttons_days: float = Field(default=30.0, gt=0)  # an answer's Sources/Follow-up buttons work this long
    # comma-separated in the environment (NoDecode: not JSON)
    shared_libraries: Annotated[tuple[str, ...], NoDecode] = ("default",)
    allowed_guilds: Annotated[frozenset[int] | None, NoDecode] = None
    # bot shards (docs/deploy.md): none = discord.py's plain client, as before; ids need a count
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None

    # feeds and links (docs/feeds.md): what may be fetched, how, and how often
    allow_private_urls: bool = False  # tests and local setups only: lets fetches reach private/loopback addresses
    fetch_connect_timeout_s: float = Field(default=5.0, gt=0)
    fetch_read_timeout_s: float = Field(default=10.0, gt=0)
    fetch_total_timeout_s: float = Field(default=30.0, gt=0)
    fetch_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    feed_every_s: int = Field(default=1800, ge=60)  # a new feed's interval unless --every says otherwise
    feed_max_entries: int = Field(default=100, ge=1, le=10000)  # entries read per feed per poll (newest first)
    feed_teaser_chars: int = Field(default=1000, ge=0)  # --full-text auto fetches the page below this
    feed_pause_after: int = Field(default=10, ge=1)  # consecutive failures before a feed is paused
    feed_workers: int = Field(default=4, ge=1, le=64)  # feeds fetched and extracted at once
    feed_poll_s: float = Field(default=60.0, ge=1)  # how often the bot looks for due feeds
    # one feed's whole turn in a pass (its fetch, then its teasers' pages): a feed not done by then fails and the pass
    # goes on. 3x NEWSBOT_FETCH_TOTAL_TIMEOUT_S: the feed itself, then pages while one more fits
    feed_deadline_s: float = Field(default=90.0, gt=0)
    feed_poll_process: bool = True  # the bot polls in a child process (no GIL shared with the event loop), started
    # once a feed is first due; false: in a worker thread (no second embedding model; stalls the loop more)
    # a claimed feed is held this long by its poller (bot or `newsbot worker`); one killed frees its feeds then.
    # Above NEWSBOT_FEED_DEADLINE_S plus a batch's ingest, or a slow feed could be fetched twice
    feed_lease_s: float = Field(default=300.0, ge=1)
    feeds_in_bot: bool = True  # false: the bot polls no feeds (run `newsbot worker`s), still answers /feeds and alerts

    # quotas (docs/feeds.md): what one library, feed, article or PDF may cost
    feed_max_per_library: int = Field(default=50, ge=1)  # feeds one library may poll
    feed_max_new_per_poll: int = Field(default=50, ge=1)  # new or changed articles taken from one feed per poll
    max_article_chars: int = Field(default=200_000, ge=1000)  # extracted text kept per article (the rest cut)
    pdf_max_pages: int = Field(default=200, ge=1)  # pages read from one PDF (the rest cut, with a warning)
    admin_timeout_s: float = Field(default=120.0, gt=0)  # /feeds add and /ingest: their own deadline

    # follows (issue #28): topics alerted into channels or DMs, one alert per story
    follow_max_per_member: int = Field(default=10, ge=1)  # follows one member may have in one library
    follow_max_per_server: int = Field(default=50, ge=1)  # follows (members' and channels') in one library
    follow_max_topic_chars: int = Field(default=200, ge=10, le=1000)  # a topic's length
    alert_poll_s: float = Field(default=2.0, gt=0)  # how often the bot looks for alerts to send
    alerts_per_hour: int = Field(default=10, ge=1)  # alerts one channel (or DM) gets per hour; the rest fold

    briefing_channel_id: int | None = None
    briefing_time: str = "08:00"
    briefing_timezone: str = "UTC"

    @field_validator("shared_libraries", mode="before")
    @classmethod
    def _library_list(cls, value: object) -> object:
        """`default, world-news` -> ("default", "world-news"): stripped, each once, in order, each a valid
        library name (a bad one stops the bot at startup, not at the first question)."""
        if isinstance(value, str):
            value = [name.strip() for name in value.split(",") if name.strip()]
        if not isinstance(value, (list, tuple)):
            return value
        names = tuple(dict.fromkeys(value))
        if not names:
            raise ValueError("names no library; leave it unset for `default`")
        for name in names:
            try:
                check_library(name)
            except LibraryError as exc:
                raise ValueError(str(exc)) from None
        return names

    @field_validator("allowed_guilds", mode="before")
    @classmethod
    def _guild_ids(cls, value: object) -> object:
        """`123, 456` -> {123, 456}; blank means no allow-list."""
        if not isinstance(value, str):
            return value
        ids = [part.strip() for part in value.split(",") if part.strip()]
        bad = [part for part in ids if not part.isdigit()]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a server id (comma-separated numbers, e.g. 123456789012345678)")
        return frozenset(int(part) for part in ids) or None

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ids(cls, value: object, info: ValidationInfo) -> object:
        """`0, 1` -> (0, 1), each below NEWSBOT_SHARD_COUNT; blank means every shard of the count."""
        if not isinstance(value, str):
            return value
        ids = [part.strip() for part in value.split(",") if part.strip()]
        if not ids:
            return None
        bad = [part for part in ids if not part.isdigit()]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a shard id (comma-separated numbers from 0, e.g. 0,1)")
        count = info.data.get("shard_count")
        if not count:
            raise ValueError("shard ids need NEWSBOT_SHARD_COUNT, the number of shards across all bot processes")
        over = [int(part) for part in ids if int(part) >= count]
        if over:
            raise ValueError(f"shard id {over[0]} is not below NEWSBOT_SHARD_COUNT={count} (ids run from 0 to "
                             f"{count - 1})")
        return tuple(sorted({int(part) for part in ids}))

    @property
    def embedding_model_id(self) -> str:
        """The name a store records for the embedding model these settings choose (known without loading it)."""
        if self.embedding_provider == "openai":
            return f"openai:{self.openai_embedding_model}"
        return LOCAL_EMBEDDING_MODEL

    @property
    def use_openai_llm(self) -> bool:
        """The one rule for picking a model: the stub unless OpenAI is asked for or a key is set."""
        if self.llm == "openai":
            return True
        return self.llm == "auto" and self.openai_api_key is not None


def settings_problems(exc: ValidationError) -> str:
    """A bad setting as one line for stderr, naming each variable: `NEWSBOT_X: what is wrong; …`."""
    return "; ".join(f"NEWSBOT_{str(e['loc'][0]).upper() if e['loc'] else '?'}: "
                     f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
