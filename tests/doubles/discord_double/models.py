"""The Discord double's vocabulary: intents, permissions, limits, channel types, message flags, and the records
it keeps (users, guilds, attachments, requests, interactions, gateway sessions)."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import re
import time
import zlib
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    List,
    Mapping,
    Optional,
    TypeVar,
)

from aiohttp import web

_zstd: Any
try:  # zstd-stream is what discord.py requests when ``zstandard`` is installed
    import zstandard as _zstd
except ImportError:  # pragma: no cover - depends on the environment
    _zstd = None

if TYPE_CHECKING:  # InteractionRecord points back at its double
    from .double import DiscordDouble

T = TypeVar("T")
Json = Dict[str, Any]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000


class Intents:
    """Gateway intent bits the double understands."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


class Permissions:
    """Permission bits used by the default roles."""

    ADMINISTRATOR = 1 << 3
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    USE_APPLICATION_COMMANDS = 1 << 31
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 51) - 1
    EVERYONE_DEFAULT = (
        ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | SEND_MESSAGES_IN_THREADS
    )


class Limits:
    """Discord's documented limits that the double enforces."""

    CONTENT = 2000
    EMBEDS = 10
    EMBED_TITLE = 256
    EMBED_DESCRIPTION = 4096
    EMBED_FIELDS = 25
    FIELD_NAME = 256
    FIELD_VALUE = 1024
    FOOTER_TEXT = 2048
    AUTHOR_NAME = 256
    EMBED_TOTAL = 6000
    ATTACHMENTS = 10
    UPLOAD_BYTES = 10 * 1024 * 1024
    THREAD_NAME = 100
    INTERACTION_ACK_S = 3.0
    FOLLOWUP_WINDOW_S = 15 * 60.0
    COMMAND_NAME = 32
    COMMAND_DESCRIPTION = 100
    COMMAND_OPTIONS = 25
    GLOBAL_COMMANDS = 100


# Channel types (subset)
GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12

MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7


def _iso(ts: Optional[float] = None) -> str:
    """Return an ISO-8601 timestamp like Discord's (UTC, microseconds)."""
    moment = _dt.datetime.fromtimestamp(time.time() if ts is None else ts, tz=_dt.timezone.utc)
    return moment.isoformat()


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class FakeUser:
    """A Discord user the test can act as (or the bot itself)."""

    id: int
    username: str
    bot: bool = False
    global_name: Optional[str] = None

    def payload(self) -> Json:
        """The user object as Discord serialises it."""
        data: Json = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }
        if self.bot:
            data["bot"] = True
        return data

    @property
    def mention(self) -> str:
        """The ``<@id>`` mention token for message content."""
        return f"<@{self.id}>"


@dataclass
class FakeGuild:
    """A guild: its roles and members, its ``general`` channel and its ``admin`` (Admin role)."""

    id: int
    name: str
    owner_id: int
    admin_role_id: int
    general_id: int
    admin: Optional[FakeUser] = None
    roles: Dict[int, Json] = field(default_factory=dict)
    members: Dict[int, Json] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadedAttachment:
    """A file hosted by the double's fake CDN (``GET /attachments/{id}/{filename}``)."""

    id: int
    filename: str
    data: bytes
    content_type: Optional[str]
    url: str
    description: Optional[str] = None

    def payload(self) -> Json:
        """The attachment object as Discord serialises it."""
        data: Json = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.description:
            data["description"] = self.description
        return data


@dataclass
class RecordedFile:
    """One file part of a multipart request."""

    field: str
    filename: Optional[str]
    content_type: Optional[str]
    data: bytes


@dataclass
class RecordedRequest:
    """One REST request as received by the double (Authorization redacted)."""

    method: str
    path: str  # without the /api/v10 prefix
    query: Dict[str, str]
    headers: Dict[str, str]
    json: Any
    files: List[RecordedFile]
    route: Optional[str] = None  # matched template, e.g. "POST /channels/{channel_id}/messages"
    status: Optional[int] = None  # status the double answered with
    response: Any = None  # JSON body the double answered with

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.method} {self.path} -> {self.status}>"


@dataclass
class _Fault:
    method: str
    path_re: re.Pattern[str]
    remaining: int
    status: int
    body: Json
    headers: Dict[str, str]
    skip: int = 0  # matching requests to let through before the fault applies


@dataclass
class InteractionRecord:
    """State of one interaction created by :meth:`DiscordDouble.invoke_slash`."""

    id: int
    token: str
    payload: Json
    created_at: float  # loop.time() when INTERACTION_CREATE was dispatched
    ack_deadline: float  # seconds
    followup_window: float  # seconds
    response_type: Optional[int] = None
    original_message_id: Optional[int] = None
    followup_ids: List[int] = field(default_factory=list)
    ephemeral: bool = False
    deferred_pending: bool = False  # a type-5 defer whose loading message is not filled yet
    callback_attempts: List[int] = field(default_factory=list)  # statuses of callback POSTs
    choices: Optional[List[Json]] = None  # an autocomplete interaction's answer (callback type 8)
    modal: Optional[Json] = None  # the modal a callback type 9 opened (components.py submits it)
    _double: Optional["DiscordDouble"] = field(default=None, repr=False)

    @property
    def acknowledged(self) -> bool:
        """Whether a callback was accepted."""
        return self.response_type is not None

    @property
    def channel_id(self) -> int:
        """The channel the interaction was invoked in."""
        return int(self.payload["channel_id"])

    def original_message(self) -> Optional[Json]:
        """The original response message (``@original``), if any."""
        assert self._double is not None
        if self.original_message_id is None:
            return None
        return self._double.get_message(self.original_message_id)

    def followups(self) -> List[Json]:
        """Follow-up messages (excluding a deferred original filled by the first follow-up)."""
        assert self._double is not None
        return [m for m in (self._double.get_message(i) for i in self.followup_ids) if m is not None]

    async def wait_for_response(self, timeout: float = 5.0) -> int:
        """Wait until the interaction is acknowledged; return the callback type."""
        assert self._double is not None
        return await self._double._wait_until(lambda: self.response_type, timeout, f"interaction {self.id} callback")

    async def wait_for_callback_attempt(self, timeout: float = 5.0) -> int:
        """Wait until the bot POSTed a callback (accepted or not); return its HTTP status."""
        assert self._double is not None
        return await self._double._wait_until(
            lambda: self.callback_attempts[0] if self.callback_attempts else None,
            timeout,
            f"interaction {self.id} callback attempt",
        )

    async def wait_for_reply(self, timeout: float = 5.0) -> Json:
        """Wait for the first visible answer: an immediate response, a filled defer or a follow-up."""
        assert self._double is not None

        def check() -> Optional[Json]:
            original = self.original_message()
            if original is not None and not original["flags"] & MESSAGE_FLAG_LOADING:
                return original
            followups = self.followups()
            return followups[0] if followups else None

        return await self._double._wait_until(check, timeout, f"reply to interaction {self.id}")


@dataclass
class GatewaySession:
    """A gateway session (survives disconnects until it is invalidated)."""

    session_id: str
    intents: int
    shard: Optional[List[int]]
    seq: int = 0
    history: List[Json] = field(default_factory=list)
    connection: Optional["_GatewayConnection"] = None
    resumable: bool = True
    resumes: int = 0


class _GatewayConnection:
    """One websocket connection, with its transport compression context."""

    def __init__(self, ws: web.WebSocketResponse, path: str, query: Mapping[str, str]) -> None:
        self.ws = ws
        self.path = path
        self.query = dict(query)
        self.session: Optional[GatewaySession] = None
        self.lock = asyncio.Lock()
        compress = query.get("compress")
        self.compression: Optional[str] = None
        self._zlib: Any = None
        self._zstd: Any = None
        if compress == "zlib-stream":
            self.compression = compress
            self._zlib = zlib.compressobj()
        elif compress == "zstd-stream" and _zstd is not None:
            self.compression = compress
            self._zstd = _zstd.ZstdCompressor().compressobj()

    async def send(self, payload: Json) -> None:
        """Send one gateway payload, compressed like Discord does if requested."""
        raw = _dumps(payload)
        async with self.lock:  # the compression stream must stay ordered
            if self.ws.closed:
                raise ConnectionResetError("gateway connection closed")
            if self._zlib is not None:
                data = self._zlib.compress(raw.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)
            elif self._zstd is not None:
                data = self._zstd.compress(raw.encode()) + self._zstd.flush(_zstd.COMPRESSOBJ_FLUSH_BLOCK)
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(raw)
