"""An in-process test double of the Discord API (REST + gateway) for discord.py.

The double is an :mod:`aiohttp` server on ``127.0.0.1`` (random free port) that
the *real* discord.py client talks to.  It models one bot application with one
test guild (more with :meth:`DiscordDouble.add_guild`) and lets a test act as
Discord users (messages, DMs, slash-command invocations) while recording
everything the bot puts on the wire.

Typical use::

    async with DiscordDouble() as double:
        bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(),
                           guild_ready_timeout=0.05)
        async with double.running_bot(bot):
            sent = await double.send_message(double.general_id, double.member,
                                             f"<@{double.bot_user.id}> hi")
            reply = await double.wait_for_message(author_id=double.bot_user.id,
                                                  after=sent["id"])

Pointing discord.py at the double is done by :meth:`DiscordDouble.patch_discord`
(sets ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``);
:meth:`DiscordDouble.running_bot` does that for you.

Behaviour modelled on the real Discord (documented deviations are marked
"Simplification" in the docstrings):

* gateway: HELLO, IDENTIFY -> READY + GUILD_CREATE (one per guild the bot is
  in), GUILD_CREATE when the bot is added to a guild, GUILD_DELETE when it
  leaves one (``DELETE /users/@me/guilds/{id}``), heartbeat ACK, RESUME with
  replay of missed events -> RESUMED, INVALID_SESSION for unknown sessions,
  REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK, ``zlib-stream`` and
  ``zstd-stream`` transport compression (as requested in the URL query),
  intent filtering and Message Content intent redaction;
* REST: the routes a bot typically uses (see :data:`_ROUTES` below) with
  Discord's JSON error shapes; unknown routes answer 404 and are recorded;
* limits: message/embed length limits (400/50035), empty messages (50006),
  attachment count/size, the 3 s interaction acknowledgement deadline (10062),
  the 15 min follow-up window (50027), double acknowledgement (40060);
* fault injection: 429 rate limits (body + headers, optionally global) and
  arbitrary error statuses (e.g. 500) for the next N matching requests
  (optionally after letting the first M through).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as _dt
import json
import math
import re
import secrets
import socket
import time
import zlib
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from aiohttp import BodyPartReader, WSMsgType, web

_zstd: Any
try:  # zstd-stream is what discord.py requests when ``zstandard`` is installed
    import zstandard as _zstd
except ImportError:  # pragma: no cover - depends on the environment
    _zstd = None

__all__ = [
    "DiscordDouble",
    "FakeUser",
    "UploadedAttachment",
    "RecordedRequest",
    "RecordedFile",
    "InteractionRecord",
    "GatewaySession",
    "Limits",
    "Intents",
    "Permissions",
    "InvalidFormBody",
    "ApiError",
    "validate_message_payload",
    "validate_commands",
]

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


class InvalidFormBody(Exception):
    """Raised by validators; carries Discord's 50035 ``errors`` tree."""

    def __init__(self, errors: Json) -> None:
        super().__init__("Invalid Form Body")
        self.errors = errors


class ApiError(Exception):
    """Raised by handlers to answer with a Discord JSON error."""

    def __init__(self, status: int, code: int, message: str, errors: Optional[Json] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> Json:
        data: Json = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def _err(code: str, message: str) -> Json:
    return {"_errors": [{"code": code, "message": message}]}


def _put_error(tree: Json, path: Sequence[str], leaf: Json) -> None:
    node = tree
    for key in path:
        node = node.setdefault(key, {})
    node.setdefault("_errors", []).extend(leaf["_errors"])


def _route_regex(pattern: str) -> Tuple[str, re.Pattern[str]]:
    """Turn ``"POST /channels/{channel_id}/messages"`` (or ``*`` parts) into (method, regex)."""
    method, _, path = pattern.strip().partition(" ")
    if not path:
        method, path = "*", method
    if path == "*":
        return method.upper(), re.compile(r".*")
    parts = []
    for piece in re.split(r"(\{[^}]+\}|\*)", path):
        if piece == "*" or (piece.startswith("{") and piece.endswith("}")):
            parts.append(r"[^/]+")
        else:
            parts.append(re.escape(piece))
    return method.upper(), re.compile("".join(parts))


# --------------------------------------------------------------------------- validation


def validate_message_payload(payload: Json, *, file_count: int = 0, require_content: bool = True) -> None:
    """Check a message create/edit body against Discord's limits.

    Raises :class:`InvalidFormBody` (-> 400/50035) or :class:`ApiError` (50006).
    """
    errors: Json = {}
    content = payload.get("content")
    if content is not None:
        if not isinstance(content, str):
            _put_error(errors, ["content"], _err("STRING_TYPE_CONVERT", "Could not interpret value as string."))
        elif len(content) > Limits.CONTENT:
            _put_error(
                errors, ["content"], _err("BASE_TYPE_MAX_LENGTH", f"Must be {Limits.CONTENT} or fewer in length.")
            )
    embeds = payload.get("embeds") or []
    if len(embeds) > Limits.EMBEDS:
        _put_error(errors, ["embeds"], _err("BASE_TYPE_MAX_LENGTH", f"Must be {Limits.EMBEDS} or fewer in length."))
    total = 0
    for index, embed in enumerate(embeds):
        where = ["embeds", str(index)]
        for key, limit in (("title", Limits.EMBED_TITLE), ("description", Limits.EMBED_DESCRIPTION)):
            text = embed.get(key)
            if text is not None:
                total += len(text)
                if len(text) > limit:
                    _put_error(
                        errors, where + [key], _err("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
                    )
        for key, sub, limit in (("footer", "text", Limits.FOOTER_TEXT), ("author", "name", Limits.AUTHOR_NAME)):
            text = (embed.get(key) or {}).get(sub)
            if text is not None:
                total += len(text)
                if len(text) > limit:
                    _put_error(
                        errors, where + [key, sub], _err("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
                    )
        fields = embed.get("fields") or []
        if len(fields) > Limits.EMBED_FIELDS:
            _put_error(
                errors,
                where + ["fields"],
                _err("BASE_TYPE_MAX_LENGTH", f"Must be {Limits.EMBED_FIELDS} or fewer in length."),
            )
        for f_index, fld in enumerate(fields):
            for key, limit in (("name", Limits.FIELD_NAME), ("value", Limits.FIELD_VALUE)):
                text = fld.get(key)
                f_where = where + ["fields", str(f_index), key]
                if not text:
                    _put_error(errors, f_where, _err("BASE_TYPE_REQUIRED", "This field is required"))
                    continue
                total += len(text)
                if len(text) > limit:
                    _put_error(errors, f_where, _err("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."))
    if total > Limits.EMBED_TOTAL:
        _put_error(
            errors,
            ["embeds"],
            _err("MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {Limits.EMBED_TOTAL}"),
        )
    attachments = payload.get("attachments") or []
    if max(len(attachments), file_count) > Limits.ATTACHMENTS:
        _put_error(
            errors, ["attachments"], _err("BASE_TYPE_MAX_LENGTH", f"Must be {Limits.ATTACHMENTS} or fewer in length.")
        )
    if errors:
        raise InvalidFormBody(errors)
    if require_content and _is_empty(payload, file_count):
        raise ApiError(400, 50006, "Cannot send an empty message")


def _is_empty(payload: Json, file_count: int) -> bool:
    content = payload.get("content") or ""
    return not (
        content.strip()
        or payload.get("embeds")
        or file_count
        or payload.get("attachments")
        or payload.get("sticker_ids")
        or payload.get("components")
        or payload.get("poll")
    )


def validate_commands(commands: Any) -> None:
    """Check a bulk-overwrite application-command body (names, descriptions, option counts)."""
    if not isinstance(commands, list):
        raise InvalidFormBody(_err("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"))
    errors: Json = {}
    if len(commands) > Limits.GLOBAL_COMMANDS:
        _put_error(errors, [], _err("BASE_TYPE_MAX_LENGTH", f"Must be {Limits.GLOBAL_COMMANDS} or fewer in length."))
    name_re = re.compile(r"^[-_'\w]{1,32}$")

    def check(obj: Json, where: List[str], slash: bool) -> None:
        name = obj.get("name") or ""
        if not name or len(name) > Limits.COMMAND_NAME or (slash and (not name_re.match(name) or name != name.lower())):
            _put_error(errors, where + ["name"], _err("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
        if slash:
            desc = obj.get("description") or ""
            if not 1 <= len(desc) <= Limits.COMMAND_DESCRIPTION:
                _put_error(
                    errors,
                    where + ["description"],
                    _err("BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {Limits.COMMAND_DESCRIPTION} in length."),
                )
        options = obj.get("options") or []
        if len(options) > Limits.COMMAND_OPTIONS:
            _put_error(
                errors,
                where + ["options"],
                _err("BASE_TYPE_MAX_LENGTH", f"Must be {Limits.COMMAND_OPTIONS} or fewer in length."),
            )
        for index, opt in enumerate(options):
            check(opt, where + ["options", str(index)], True)
            if len(opt.get("choices") or []) > 25:
                _put_error(
                    errors,
                    where + ["options", str(index), "choices"],
                    _err("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."),
                )

    for index, cmd in enumerate(commands):
        check(cmd, [str(index)], cmd.get("type", 1) == 1)
    names = [(c.get("name"), c.get("type", 1)) for c in commands]
    if len(set(names)) != len(names):
        _put_error(errors, [], _err("APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"))
    if errors:
        raise InvalidFormBody(errors)


# --------------------------------------------------------------------------- the double

Handler = Callable[[web.Request, Dict[str, str], RecordedRequest], Awaitable[Union[Json, List[Any], None]]]


class DiscordDouble:
    """A fake Discord (REST + gateway) for the real discord.py client.

    Construct, then ``async with double:`` (or ``await double.start()``).  The
    bot/application, one guild with two text channels, an ``Admin`` role and
    three users (``bot_user``, ``admin``, ``member``) exist from the start.
    """

    def __init__(
        self,
        *,
        token: str = "test-token",
        heartbeat_interval_ms: int = 41250,
        interaction_ack_deadline: float = Limits.INTERACTION_ACK_S,
        followup_window: float = Limits.FOLLOWUP_WINDOW_S,
        require_registered_commands: bool = True,
    ) -> None:
        """Create the double (not yet listening).

        ``interaction_ack_deadline``/``followup_window`` default to Discord's
        3 s / 15 min; ``require_registered_commands`` makes :meth:`invoke_slash`
        refuse commands the bot never synced (as a real client would).
        """
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_ack_deadline = interaction_ack_deadline
        self.followup_window = followup_window
        self.require_registered_commands = require_registered_commands

        self._last_id = 0
        self.port: Optional[int] = None
        self._runner: Optional[web.AppRunner] = None
        self._changed = asyncio.Event()

        # recordings
        self.requests: List[RecordedRequest] = []
        self.unknown_requests: List[RecordedRequest] = []
        self.gateway_received: List[Json] = []  # client->double payloads (token redacted)
        self.gateway_sent: List[Json] = []  # double->client payloads
        self.gateway_connections: List[Dict[str, Any]] = []  # {"path", "query"} per websocket
        self.presence_updates: List[Json] = []

        # world
        self.application_id = self._new_id()
        self.bot_user = FakeUser(self._new_id(), "newsbot", bot=True)
        self.owner = FakeUser(self._new_id(), "owner")
        self.guild_id = self._new_id()
        self.admin_role_id = self._new_id()
        self.general_id = self._new_id()
        self.news_id = self._new_id()
        self.admin = FakeUser(self._new_id(), "admin", global_name="Admin")
        self.member = FakeUser(self._new_id(), "alice", global_name="Alice")
        self.users: Dict[int, FakeUser] = {}
        self.roles: Dict[int, Json] = {
            self.guild_id: self._role_payload(self.guild_id, "@everyone", Permissions.EVERYONE_DEFAULT, 0),
            self.admin_role_id: self._role_payload(self.admin_role_id, "Admin", Permissions.ADMINISTRATOR, 1),
        }
        self.members: Dict[int, Json] = {}
        self.guilds: Dict[int, FakeGuild] = {
            self.guild_id: FakeGuild(self.guild_id, "Test Guild", self.owner.id, self.admin_role_id, self.general_id,
                                     self.admin, self.roles, self.members)
        }
        self.joined: List[int] = [self.guild_id]  # guilds the bot is in, in joining order
        self.channels: Dict[int, Json] = {}
        self._dm_by_user: Dict[int, int] = {}
        self.messages: Dict[int, Json] = {}
        self._channel_messages: Dict[int, List[int]] = {}
        self.attachments: Dict[int, UploadedAttachment] = {}
        self.global_commands: Dict[str, Json] = {}
        self.guild_commands: Dict[int, Dict[str, Json]] = {}
        self.interactions: Dict[int, InteractionRecord] = {}
        self._interactions_by_token: Dict[str, InteractionRecord] = {}
        self.sessions: Dict[str, GatewaySession] = {}
        self._faults: List[_Fault] = []

        for user in (self.bot_user, self.owner, self.admin, self.member):
            self.add_user(user, roles=[self.admin_role_id] if user is self.admin else [])
        for cid, name, pos in ((self.general_id, "general", 0), (self.news_id, "news", 1)):
            self.channels[cid] = self._text_channel(cid, self.guild_id, name, pos)

    @staticmethod
    def _text_channel(channel_id: int, guild_id: int, name: str, position: int) -> Json:
        return {
            "id": str(channel_id),
            "type": GUILD_TEXT,
            "guild_id": str(guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> "DiscordDouble":
        """Start listening on a random free port of 127.0.0.1."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for ws_path in ("/gateway", "/gateway/", "/gateway-resume", "/gateway-resume/"):
            app.router.add_get(ws_path, self._ws_handler)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._cdn_handler)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def close(self) -> None:
        """Close gateway connections and stop the server."""
        for session in self.sessions.values():
            conn = session.connection
            if conn is not None and not conn.ws.closed:
                await conn.ws.close(code=1001, message=b"double shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "DiscordDouble":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running double."""
        if self.port is None:
            raise RuntimeError("DiscordDouble is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """The websocket URL handed out for IDENTIFY connections."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """The ``resume_gateway_url`` sent in READY (a distinct path, so resumes are observable)."""
        return f"ws://127.0.0.1:{self.port}/gateway-resume"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py at the double; restores the previous values on exit."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url + "/")
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    @contextlib.asynccontextmanager
    async def running_bot(self, bot: Any, *, timeout: float = 10.0) -> AsyncIterator[Any]:
        """Log ``bot`` (a ``discord.Client``) in against the double, connect, and wait for ``on_ready``.

        Pass ``guild_ready_timeout=0.05`` (or so) to the bot's constructor;
        discord.py otherwise waits 2 s after the last GUILD_CREATE before READY.
        The bot is closed on exit.
        """
        with self.patch_discord():
            await bot.login(self.token)
            runner = asyncio.create_task(bot.connect(reconnect=True), name="discord-double-bot")
            ready = asyncio.create_task(bot.wait_until_ready())
            try:
                done, _ = await asyncio.wait({runner, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if ready not in done:
                    ready.cancel()
                    if runner in done:
                        runner.result()  # re-raise the connection error
                        raise RuntimeError("bot.connect() returned before the bot became ready")
                    raise TimeoutError(f"bot not ready after {timeout}s")
                yield bot
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(runner, timeout=5)

    # ------------------------------------------------------------------ world helpers

    def _new_id(self) -> int:
        """A fresh, strictly increasing snowflake."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    @staticmethod
    def _role_payload(role_id: int, name: str, permissions: int, position: int) -> Json:
        return {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def add_user(
        self, user: FakeUser, *, roles: Sequence[int] = (), guild_member: bool = True, guild_id: Optional[int] = None
    ) -> FakeUser:
        """Register ``user`` (and make it a member of ``guild_id``, default the test guild, unless
        ``guild_member=False``)."""
        self.users[user.id] = user
        if guild_member:
            self.guilds[guild_id or self.guild_id].members[user.id] = {
                "user": user.payload(),
                "roles": [str(r) for r in roles],
                "joined_at": _iso(),
                "nick": None,
                "avatar": None,
                "banner": None,
                "premium_since": None,
                "deaf": False,
                "mute": False,
                "pending": False,
                "flags": 0,
                "communication_disabled_until": None,
            }
        return user

    def create_user(
        self, username: str, *, admin: bool = False, bot: bool = False, guild_member: bool = True,
        guild_id: Optional[int] = None,
    ) -> FakeUser:
        """Create and register a new user (``admin=True`` gives the Admin role of ``guild_id``)."""
        user = FakeUser(self._new_id(), username, bot=bot)
        guild = self.guilds[guild_id or self.guild_id]
        return self.add_user(user, roles=[guild.admin_role_id] if admin else [], guild_member=guild_member,
                             guild_id=guild.id)

    def add_guild(self, name: str, *, joined: bool = True) -> FakeGuild:
        """Another guild with a ``general`` channel, an Admin role and an admin of its own (a member of no other
        guild). With ``joined`` the bot is in it from the next IDENTIFY (use :meth:`add_bot_to_guild` for a live
        join)."""
        gid, role_id, channel_id = self._new_id(), self._new_id(), self._new_id()
        guild = FakeGuild(gid, name, self.owner.id, role_id, channel_id, roles={
            gid: self._role_payload(gid, "@everyone", Permissions.EVERYONE_DEFAULT, 0),
            role_id: self._role_payload(role_id, "Admin", Permissions.ADMINISTRATOR, 1)})
        self.guilds[gid] = guild
        self.channels[channel_id] = self._text_channel(channel_id, gid, "general", 0)
        for user in (self.bot_user, self.owner):
            self.add_user(user, guild_id=gid)
        guild.admin = self.create_user(f"admin-{name}", admin=True, guild_id=gid)
        if joined:
            self.joined.append(gid)
        return guild

    async def add_bot_to_guild(self, guild_id: int) -> None:
        """The bot is added to a guild while connected: GUILD_CREATE (discord.py's ``on_guild_join``)."""
        if guild_id not in self.joined:
            self.joined.append(guild_id)
        for session in list(self.sessions.values()):
            if session.resumable:
                payload = self.guild_payload(session.intents, guild_id)
                del payload["unavailable"]  # a join, not an outage ending (discord.py: on_guild_join)
                await self._dispatch_to(session, "GUILD_CREATE", payload)

    def guild_of(self, channel_id: int) -> Optional[int]:
        """The guild a channel or thread belongs to (None for DMs)."""
        gid = self.channels.get(channel_id, {}).get("guild_id")
        return int(gid) if gid is not None else None

    def member_permissions(self, user_id: int, guild_id: Optional[int] = None) -> int:
        """Guild-level permissions of a member (all bits for administrators and the owner)."""
        guild = self.guilds[guild_id or self.guild_id]
        if user_id == guild.owner_id:
            return Permissions.ALL
        perms = int(guild.roles[guild.id]["permissions"])
        for role_id in guild.members.get(user_id, {}).get("roles", []):
            perms |= int(guild.roles[int(role_id)]["permissions"])
        return Permissions.ALL if perms & Permissions.ADMINISTRATOR else perms

    def add_attachment(
        self, filename: str, data: bytes, content_type: Optional[str] = None, *, description: Optional[str] = None
    ) -> UploadedAttachment:
        """Host ``data`` on the fake CDN; use the result in messages or slash-command options."""
        att_id = self._new_id()
        att = UploadedAttachment(
            id=att_id,
            filename=filename,
            data=data,
            content_type=content_type,
            url=f"{self.base_url}/attachments/{att_id}/{filename}",
            description=description,
        )
        self.attachments[att_id] = att
        return att

    def dm_channel_for(self, user: FakeUser) -> int:
        """Id of the DM channel between ``user`` and the bot (created on demand)."""
        if user.id not in self._dm_by_user:
            cid = self._new_id()
            self.users.setdefault(user.id, user)
            self.channels[cid] = {
                "id": str(cid),
                "type": DM,
                "last_message_id": None,
                "recipients": [user.payload()],
                "flags": 0,
            }
            self._dm_by_user[user.id] = cid
        return self._dm_by_user[user.id]

    async def create_thread(
        self, parent_id: int, name: str, *, owner: Optional[FakeUser] = None, thread_id: Optional[int] = None
    ) -> Json:
        """Create a public thread under ``parent_id`` (dispatches THREAD_CREATE)."""
        parent = self.channels[parent_id]
        tid = thread_id or self._new_id()
        owner = owner or self.member
        thread: Json = {
            "id": str(tid),
            "type": PUBLIC_THREAD,
            "guild_id": parent["guild_id"],
            "parent_id": str(parent_id),
            "owner_id": str(owner.id),
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _iso(),
                "locked": False,
                "create_timestamp": _iso(),
            },
        }
        self.channels[tid] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True}, intent=Intents.GUILDS)
        return copy.deepcopy(thread)

    def is_guild_channel(self, channel_id: int) -> bool:
        """True for guild text channels and threads."""
        return "guild_id" in self.channels.get(channel_id, {})

    # ------------------------------------------------------------------ inspection

    def get_message(self, message_id: int) -> Optional[Json]:
        """A copy of the stored message, or None."""
        msg = self.messages.get(message_id)
        return copy.deepcopy(msg) if msg is not None else None

    def messages_in(self, channel_id: int, *, include_ephemeral: bool = False) -> List[Json]:
        """Copies of the messages in a channel, oldest first (deleted ones excluded)."""
        out = []
        for mid in self._channel_messages.get(channel_id, []):
            msg = self.messages.get(mid)
            if msg is None or (msg["flags"] & MESSAGE_FLAG_EPHEMERAL and not include_ephemeral):
                continue
            out.append(copy.deepcopy(msg))
        return out

    def bot_messages(self, channel_id: Optional[int] = None) -> List[Json]:
        """Messages authored by the bot (optionally in one channel)."""
        msgs = (
            self.messages_in(channel_id, include_ephemeral=True)
            if channel_id
            else [copy.deepcopy(m) for m in self.messages.values()]
        )
        return [m for m in msgs if int(m["author"]["id"]) == self.bot_user.id]

    def requests_to(self, route: str) -> List[RecordedRequest]:
        """Recorded requests matching ``"METHOD /path/{param}"`` (``*`` wildcards allowed)."""
        method, regex = _route_regex(route)
        return [r for r in self.requests if (method == "*" or r.method == method) and regex.fullmatch(r.path)]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, check: Callable[[], Optional[T]], timeout: float, what: str) -> T:
        """Re-evaluate ``check`` on every state change until it returns non-None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            event = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_for_message(
        self,
        predicate: Optional[Callable[[Json], bool]] = None,
        *,
        channel_id: Optional[int] = None,
        author_id: Optional[int] = None,
        after: Union[int, str, None] = None,
        timeout: float = 5.0,
    ) -> Json:
        """Wait for a stored message (ephemeral included) matching all filters; ``after`` is a message id."""
        after_id = int(after) if after is not None else 0

        def check() -> Optional[Json]:
            for mid in sorted(self.messages):
                msg = self.messages[mid]
                if mid <= after_id:
                    continue
                if channel_id is not None and int(msg["channel_id"]) != channel_id:
                    continue
                if author_id is not None and int(msg["author"]["id"]) != author_id:
                    continue
                if predicate is None or predicate(msg):
                    return copy.deepcopy(msg)
            return None

        return await self._wait_until(check, timeout, "message")

    async def wait_for_request(self, route: str, *, count: int = 1, timeout: float = 5.0) -> List[RecordedRequest]:
        """Wait until at least ``count`` answered requests match ``route``; return them."""

        def check() -> Optional[List[RecordedRequest]]:
            found = [r for r in self.requests_to(route) if r.status is not None]
            return found if len(found) >= count else None

        return await self._wait_until(check, timeout, f"{count} x {route}")

    async def wait_for_gateway_op(self, op: int, *, count: int = 1, timeout: float = 5.0) -> List[Json]:
        """Wait until the client sent ``count`` payloads with opcode ``op``."""

        def check() -> Optional[List[Json]]:
            found = [p for p in self.gateway_received if p.get("op") == op]
            return found if len(found) >= count else None

        return await self._wait_until(check, timeout, f"gateway op {op}")

    async def wait_for_resume(self, *, count: int = 1, timeout: float = 10.0) -> GatewaySession:
        """Wait until some session was RESUMEd ``count`` times."""

        def check() -> Optional[GatewaySession]:
            return next((s for s in self.sessions.values() if s.resumes >= count), None)

        return await self._wait_until(check, timeout, "RESUMED")

    # ------------------------------------------------------------------ fault injection

    def inject_rate_limit(
        self,
        route: str = "*",
        *,
        count: int = 1,
        retry_after: float = 0.1,
        is_global: bool = False,
        scope: str = "user",
        after: int = 0,
    ) -> None:
        """Answer the next ``count`` requests matching ``route`` with 429 (body + Retry-After/X-RateLimit-*).

        ``after`` lets that many matching requests through first (e.g. ``after=1`` rate-limits the second send).
        """
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        if is_global:
            body["code"] = 0
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "double-" + re.sub(r"\W", "", route)[:24],
            "X-RateLimit-Scope": "global" if is_global else scope,
            "Via": "1.1 google",  # discord.py treats a 429 without Via as a Cloudflare ban
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        self._add_fault(route, count, 429, body, headers, after)

    def inject_error(
        self,
        route: str = "*",
        *,
        status: int = 500,
        count: int = 1,
        code: int = 0,
        message: Optional[str] = None,
        after: int = 0,
    ) -> None:
        """Answer the next ``count`` requests matching ``route`` with ``status`` and a Discord error body.

        ``after`` lets that many matching requests through first.
        """
        default = {500: "500: Internal Server Error", 502: "502: Bad Gateway", 403: "Missing Permissions"}
        body = {"message": message or default.get(status, f"{status}: Error"), "code": code}
        self._add_fault(route, count, status, body, {}, after)

    def inject_server_error(
        self,
        route: str = "POST /channels/{channel_id}/messages",
        *,
        count: int = 1,
        status: int = 500,
        after: int = 0,
    ) -> None:
        """Answer the next ``count`` sends (by default message creates) with a 5xx, after letting ``after`` through."""
        self.inject_error(route, status=status, count=count, after=after)

    def _add_fault(
        self, route: str, count: int, status: int, body: Json, headers: Dict[str, str], after: int = 0
    ) -> None:
        method, regex = _route_regex(route)
        self._faults.append(_Fault(method, regex, count, status, body, headers, skip=after))

    @property
    def pending_faults(self) -> int:
        """How many injected faults have not been served yet (0 once every fault hit a request)."""
        return sum(f.remaining for f in self._faults)

    def _take_fault(self, method: str, path: str) -> Optional[_Fault]:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in ("*", method) and fault.path_re.fullmatch(path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ------------------------------------------------------------------ gateway

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        path = request.path.rstrip("/")
        conn = _GatewayConnection(ws, path, request.query)
        self.gateway_connections.append({"path": path, "query": dict(request.query)})
        self._notify()
        try:
            if request.query.get("v", "10") != "10":
                await ws.close(code=4012, message=b"Invalid API version")
                return ws
            await self._gw_send(
                conn, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._gw_receive(conn, payload)
        finally:
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                if ws.close_code in (1000, 1001) and session.resumable:
                    # a clean client-side close ends the session, like on Discord
                    session.resumable = False
            self._notify()
        return ws

    async def _gw_send(self, conn: _GatewayConnection, payload: Json) -> None:
        self.gateway_sent.append(payload)
        await conn.send(payload)

    async def _gw_receive(self, conn: _GatewayConnection, payload: Json) -> None:
        op = payload.get("op")
        recorded = copy.deepcopy(payload)
        if isinstance(recorded.get("d"), dict) and "token" in recorded["d"]:
            recorded["d"]["token"] = "[REDACTED]"
        self.gateway_received.append(recorded)
        self._notify()
        data = payload.get("d")
        if op == 1:  # HEARTBEAT
            await self._gw_send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:  # IDENTIFY
            await self._identify(conn, data or {})
        elif op == 6:  # RESUME
            await self._resume(conn, data or {})
        elif op == 8:  # REQUEST_GUILD_MEMBERS
            await self._members_chunk(conn, data or {})
        elif op in (3, 4):  # PRESENCE_UPDATE, VOICE_STATE_UPDATE
            self.presence_updates.append(data or {})
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: _GatewayConnection, data: Json) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if "intents" not in data:
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        session = GatewaySession(secrets.token_hex(16), int(data["intents"]), data.get("shard"))
        self.sessions[session.session_id] = session
        session.connection = conn
        conn.session = session
        ready: Json = {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self.joined],
            "session_id": session.session_id,
            "resume_gateway_url": self.resume_gateway_url,
            "session_type": "normal",
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "auth": {},
            "guild_join_requests": [],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._dispatch_to(session, "READY", ready)
        for gid in list(self.joined):
            await self._dispatch_to(session, "GUILD_CREATE", self.guild_payload(session.intents, gid))

    async def _resume(self, conn: _GatewayConnection, data: Json) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.resumable or data.get("token") != self.token:
            await self._gw_send(conn, {"op": 9, "d": False, "s": None, "t": None})
            return
        old = session.connection
        if old is not None and old is not conn and not old.ws.closed:
            await old.ws.close(code=4000)
        session.connection = conn
        conn.session = session
        last_seq = int(data.get("seq") or 0)
        for event in session.history:
            if event["s"] > last_seq:
                await self._gw_send(conn, event)
        session.resumes += 1
        await self._dispatch_to(session, "RESUMED", {})
        self._notify()

    async def _members_chunk(self, conn: _GatewayConnection, data: Json) -> None:
        session = conn.session
        if session is None:
            return
        guild = self.guilds.get(int(data.get("guild_id") or self.guild_id)) or self.guilds[self.guild_id]
        chunk: Json = {
            "guild_id": str(guild.id),
            "members": list(copy.deepcopy(guild.members).values()),
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if "nonce" in data:
            chunk["nonce"] = data["nonce"]
        await self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)

    def guild_payload(
        self, intents: int = Intents.GUILDS | Intents.GUILD_MEMBERS, guild_id: Optional[int] = None
    ) -> Json:
        """The GUILD_CREATE body of ``guild_id`` (default: the test guild).

        Without the GUILD_MEMBERS intent only the bot's own member is included
        (Simplification: Discord may also include members in voice).
        """
        guild = self.guilds[guild_id or self.guild_id]
        members = list(guild.members.values())
        if not intents & Intents.GUILD_MEMBERS:
            members = [m for m in members if int(m["user"]["id"]) == self.bot_user.id]
        channels = [
            {k: v for k, v in c.items() if k != "guild_id"}
            for c in self.channels.values()
            if c.get("guild_id") == str(guild.id) and c["type"] == GUILD_TEXT
        ]
        threads = [c for c in self.channels.values()
                   if c["type"] in (PUBLIC_THREAD, PRIVATE_THREAD) and c.get("guild_id") == str(guild.id)]
        return copy.deepcopy(
            {
                "id": str(guild.id),
                "name": guild.name,
                "icon": None,
                "splash": None,
                "discovery_splash": None,
                "banner": None,
                "description": None,
                "owner_id": str(guild.owner_id),
                "region": "us-east",
                "afk_channel_id": None,
                "afk_timeout": 300,
                "verification_level": 0,
                "default_message_notifications": 0,
                "explicit_content_filter": 0,
                "mfa_level": 0,
                "nsfw_level": 0,
                "premium_tier": 0,
                "premium_subscription_count": 0,
                "preferred_locale": "en-US",
                "system_channel_id": str(guild.general_id),
                "system_channel_flags": 0,
                "rules_channel_id": None,
                "public_updates_channel_id": None,
                "vanity_url_code": None,
                "application_id": None,
                "max_members": 500000,
                "features": [],
                "roles": list(guild.roles.values()),
                "emojis": [],
                "stickers": [],
                "joined_at": _iso(),
                "large": False,
                "unavailable": False,
                "member_count": len(guild.members),
                "members": members,
                "channels": channels,
                "threads": threads,
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "lazy": True,
            }
        )

    async def _dispatch_to(self, session: GatewaySession, event: str, data: Json) -> None:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.history.append(payload)
        conn = session.connection
        if conn is not None:
            try:
                await self._gw_send(conn, payload)
            except (ConnectionResetError, RuntimeError):
                pass  # stays in history; delivered on RESUME
        self._notify()

    async def dispatch(
        self,
        event: str,
        data: Json,
        *,
        intent: Optional[int] = None,
        transform: Optional[Callable[[GatewaySession, Json], Json]] = None,
    ) -> None:
        """Dispatch ``event`` to every live session subscribed to ``intent``.

        Sessions that are disconnected but resumable get it on RESUME.
        """
        for session in list(self.sessions.values()):
            if not session.resumable:
                continue
            if intent is not None and not session.intents & intent:
                continue
            body = transform(session, copy.deepcopy(data)) if transform else copy.deepcopy(data)
            await self._dispatch_to(session, event, body)

    async def disconnect_gateway(self, *, code: int = 4000, reason: str = "Unknown error") -> None:
        """Close every live gateway socket with ``code`` (4000 is resumable), like a dropped connection."""
        for session in self.sessions.values():
            conn = session.connection
            if conn is not None and not conn.ws.closed:
                session.connection = None
                await conn.ws.close(code=code, message=reason.encode())
        self._notify()

    async def send_reconnect(self) -> None:
        """Send opcode 7 RECONNECT (the client should reconnect and RESUME)."""
        for session in self.sessions.values():
            if session.connection is not None:
                await self._gw_send(session.connection, {"op": 7, "d": None, "s": None, "t": None})

    async def invalidate_sessions(self, *, resumable: bool = False) -> None:
        """Send opcode 9 INVALID_SESSION (``resumable=False`` forces a fresh IDENTIFY)."""
        for session in self.sessions.values():
            if session.connection is not None:
                if not resumable:
                    session.resumable = False
                await self._gw_send(session.connection, {"op": 9, "d": resumable, "s": None, "t": None})

    # ------------------------------------------------------------------ user-side events

    def _can_see_content(self, session: GatewaySession, msg: Json) -> bool:
        if session.intents & Intents.MESSAGE_CONTENT:
            return True
        if "guild_id" not in msg:
            return True  # DMs
        if int(msg["author"]["id"]) == self.bot_user.id:
            return True
        return any(int(u["id"]) == self.bot_user.id for u in msg.get("mentions", []))

    def _redact(self, session: GatewaySession, msg: Json) -> Json:
        """Apply the Message Content privileged-intent rules for ``session``."""
        if not self._can_see_content(session, msg):
            msg.update(content="", embeds=[], attachments=[], components=[])
            msg.pop("poll", None)
        ref = msg.get("referenced_message")
        if isinstance(ref, dict):
            self._redact(session, ref)
        return msg

    def _message_intent(self, msg: Json) -> int:
        return Intents.GUILD_MESSAGES if "guild_id" in msg else Intents.DIRECT_MESSAGES

    def _gateway_message(self, msg: Json) -> Json:
        """A stored message as carried by MESSAGE_CREATE/UPDATE (adds member data in guilds)."""
        data = copy.deepcopy(msg)
        if "guild_id" in data:
            members = self.guilds[int(data["guild_id"])].members
            author_member = members.get(int(data["author"]["id"]))
            if author_member is not None and not data.get("webhook_id"):
                data["member"] = {k: v for k, v in author_member.items() if k != "user"}
            for mention in data.get("mentions", []):
                member = members.get(int(mention["id"]))
                if member is not None:
                    mention["member"] = {k: v for k, v in member.items() if k != "user"}
        return data

    async def _store_and_dispatch(self, msg: Json) -> None:
        mid, cid = int(msg["id"]), int(msg["channel_id"])
        self.messages[mid] = msg
        self._channel_messages.setdefault(cid, []).append(mid)
        if cid in self.channels:
            self.channels[cid]["last_message_id"] = str(mid)
        self._notify()
        if msg["flags"] & MESSAGE_FLAG_EPHEMERAL:
            return  # ephemeral messages are never dispatched
        await self.dispatch(
            "MESSAGE_CREATE", self._gateway_message(msg), intent=self._message_intent(msg), transform=self._redact
        )

    async def _dispatch_update(self, msg: Json) -> None:
        self._notify()
        if msg["flags"] & MESSAGE_FLAG_EPHEMERAL:
            return
        await self.dispatch(
            "MESSAGE_UPDATE", self._gateway_message(msg), intent=self._message_intent(msg), transform=self._redact
        )

    def _mentions_from(self, content: str, extra: Sequence[FakeUser] = ()) -> Tuple[List[Json], List[str], bool]:
        """Parse ``<@id>``/``<@!id>``/``<@&id>``/@everyone from content, as Discord does."""
        users: Dict[int, Json] = {}
        for match in re.finditer(r"<@!?(\d+)>", content):
            user = self.users.get(int(match.group(1)))
            if user is not None:
                users[user.id] = user.payload()
        for user in extra:
            users[user.id] = user.payload()
        roles = [m.group(1) for m in re.finditer(r"<@&(\d+)>", content)
                 if any(int(m.group(1)) in g.roles for g in self.guilds.values())]
        return list(users.values()), roles, "@everyone" in content or "@here" in content

    def _base_message(self, channel_id: int, author: FakeUser, content: str) -> Json:
        channel = self.channels[channel_id]
        mentions, mention_roles, everyone = self._mentions_from(content)
        msg: Json = {
            "id": str(self._new_id()),
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": content,
            "timestamp": _iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "mention_channels": [],
            "attachments": [],
            "embeds": [],
            "reactions": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        if "guild_id" in channel:
            msg["guild_id"] = channel["guild_id"]
        return msg

    def _reference(self, channel_id: int, ref: Union[int, str, Json]) -> Tuple[Json, Json]:
        """Resolve a reply reference -> (message_reference, referenced_message)."""
        if not isinstance(ref, dict):
            ref = {"message_id": str(ref)}
        target = self.messages.get(int(ref["message_id"]))
        if target is None:
            raise InvalidFormBody({"message_reference": _err("REPLIES_UNKNOWN_MESSAGE", "Unknown message")})
        reference = {
            "type": 0,
            "message_id": target["id"],
            "channel_id": target["channel_id"],
        }
        if "guild_id" in target:
            reference["guild_id"] = target["guild_id"]
        referenced = copy.deepcopy(target)
        referenced.pop("referenced_message", None)
        return reference, referenced

    async def send_message(
        self,
        channel_id: Optional[int],
        author: FakeUser,
        content: str = "",
        *,
        mentions: Sequence[FakeUser] = (),
        message_reference: Union[int, str, Json, None] = None,
        mention_replied_user: bool = True,
        attachments: Sequence[UploadedAttachment] = (),
        embeds: Sequence[Json] = (),
        guild: Optional[bool] = None,
    ) -> Json:
        """Post a message as ``author`` and dispatch MESSAGE_CREATE; returns the stored message.

        ``channel_id`` may be a text channel, a thread or a DM channel; with
        ``guild=False`` and ``channel_id=None`` the author's DM with the bot is
        used.  Mentions are parsed from ``<@id>`` tokens in ``content`` (plus
        ``mentions``); replying to a message mentions its author unless
        ``mention_replied_user=False``.
        """
        if channel_id is None:
            if guild is not False:
                raise ValueError("channel_id is required for guild messages")
            channel_id = self.dm_channel_for(author)
        if channel_id not in self.channels:
            raise KeyError(f"unknown channel {channel_id}")
        if guild is not None and guild != self.is_guild_channel(channel_id):
            raise ValueError(f"channel {channel_id} is {'not ' if guild else ''}a guild channel")
        gid = self.guild_of(channel_id)
        if gid is not None and author.id not in self.guilds[gid].members:
            self.add_user(author, guild_id=gid)
        self.users.setdefault(author.id, author)
        msg = self._base_message(channel_id, author, content)
        extra = list(mentions)
        if message_reference is not None:
            reference, referenced = self._reference(channel_id, message_reference)
            msg.update(type=19, message_reference=reference, referenced_message=referenced)
            if mention_replied_user:
                extra.append(
                    self.users.get(int(referenced["author"]["id"]))
                    or FakeUser(int(referenced["author"]["id"]), referenced["author"]["username"])
                )
        for user in extra:
            if all(int(m["id"]) != user.id for m in msg["mentions"]):
                msg["mentions"].append(user.payload())
        msg["attachments"] = [a.payload() for a in attachments]
        msg["embeds"] = [dict(e) for e in embeds]
        await self._store_and_dispatch(msg)
        return copy.deepcopy(msg)

    async def send_dm(self, author: FakeUser, content: str, **kwargs: Any) -> Json:
        """Shortcut for a DM from ``author`` to the bot."""
        return await self.send_message(None, author, content, guild=False, **kwargs)

    def _find_command(self, name: str, guild: Union[bool, int]) -> Tuple[Optional[Json], bool]:
        """Find a registered command by top-level name -> (definition, is_guild_command); ``guild`` is a guild
        id, True for the test guild or False for DMs."""
        if guild:
            cmd = self.guild_commands.get(self.guild_id if guild is True else guild, {}).get(name)
            if cmd is not None:
                return cmd, True
        return self.global_commands.get(name), False

    def _build_options(
        self, definitions: Optional[List[Json]], values: Mapping[str, Any], resolved: Json,
        guild_id: Optional[int] = None,
    ) -> List[Json]:
        """Encode option values like a Discord client (types from the registered definition if known)."""
        by_name = {d["name"]: d for d in definitions or []}
        if definitions is not None:
            unknown = set(values) - set(by_name)
            if unknown:
                raise ValueError(f"unknown option(s) {sorted(unknown)}; registered: {sorted(by_name)}")
            missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in values]
            if missing:
                raise ValueError(f"missing required option(s) {missing}")
        out = []
        for name, value in values.items():
            opt_type = by_name.get(name, {}).get("type")
            if isinstance(value, UploadedAttachment):
                resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
                out.append({"name": name, "type": opt_type or 11, "value": str(value.id)})
            elif isinstance(value, FakeUser):
                resolved.setdefault("users", {})[str(value.id)] = value.payload()
                member = self.guilds[guild_id].members.get(value.id) if guild_id else None
                if member is not None:
                    resolved.setdefault("members", {})[str(value.id)] = {
                        **{k: v for k, v in member.items() if k != "user"},
                        "permissions": str(self.member_permissions(value.id, guild_id)),
                    }
                out.append({"name": name, "type": opt_type or 6, "value": str(value.id)})
            elif isinstance(value, bool):
                out.append({"name": name, "type": opt_type or 5, "value": value})
            elif isinstance(value, int):
                out.append({"name": name, "type": opt_type or 4, "value": value})
            elif isinstance(value, float):
                out.append({"name": name, "type": opt_type or 10, "value": value})
            else:
                out.append({"name": name, "type": opt_type or 3, "value": str(value)})
        return out

    async def invoke_slash(
        self,
        name: str,
        options: Optional[Mapping[str, Any]] = None,
        *,
        user: Optional[FakeUser] = None,
        channel_id: Optional[int] = None,
        permissions: Optional[int] = None,
        guild: bool = True,
        guild_id: Optional[int] = None,
        ack_deadline: Optional[float] = None,
        autocomplete: Optional[str] = None,
    ) -> InteractionRecord:
        """Invoke a slash command as ``user`` (default: ``member``); dispatches INTERACTION_CREATE type 2.

        ``name`` may contain a subcommand path (``"news ask"``).  Option values:
        str/int/float/bool, :class:`FakeUser` (user option, resolved) or
        :class:`UploadedAttachment` (attachment option, ``resolved.attachments``).
        ``permissions`` overrides the member's computed permissions (e.g. to
        simulate a non-admin); with ``guild=False`` the command runs in the
        user's DM with the bot. The guild is ``guild_id``, else that of
        ``channel_id``, else the test guild. With ``autocomplete="option"``
        the user is typing that option: an autocomplete interaction (type 4),
        answered with choices (see ``InteractionRecord.choices``).
        """
        user = user or self.member
        path = name.split()
        if guild:
            guild_id = guild_id or (self.guild_of(channel_id) if channel_id else None) or self.guild_id
        members = self.guilds[guild_id].members if guild_id else {}
        definition, is_guild_cmd = self._find_command(path[0], guild_id or False)
        if definition is None and self.require_registered_commands:
            raise LookupError(
                f"slash command {path[0]!r} is not registered (did the bot sync its tree?); "
                "pass require_registered_commands=False to DiscordDouble to skip this check"
            )
        if guild_id and user.id not in members:
            self.add_user(user, guild_id=guild_id)
        self.users.setdefault(user.id, user)
        if channel_id is None:
            channel_id = self.guilds[guild_id].general_id if guild_id else self.dm_channel_for(user)
        resolved: Json = {}
        # walk subcommand groups / subcommands
        defs: Optional[List[Json]] = definition.get("options", []) if definition else None
        chain: List[Tuple[str, int]] = []
        for sub in path[1:]:
            sub_def = next((d for d in defs or [] if d["name"] == sub), None) if defs is not None else None
            if defs is not None and sub_def is None:
                raise ValueError(f"unknown subcommand {sub!r} of {name!r}")
            chain.append((sub, sub_def["type"] if sub_def else 1))
            defs = sub_def.get("options", []) if sub_def else None
        opts = self._build_options(defs, options or {}, resolved, guild_id)
        for opt in opts:
            if opt["name"] == autocomplete:
                opt["focused"] = True
        for sub, sub_type in reversed(chain):
            opts = [{"name": sub, "type": sub_type, "options": opts}]
        data: Json = {
            "id": definition["id"] if definition else str(self._new_id()),
            "name": path[0],
            "type": 1,
            "options": opts,
        }
        if resolved:
            data["resolved"] = resolved
        if is_guild_cmd:
            data["guild_id"] = str(guild_id)
        interaction_id = self._new_id()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        channel = copy.deepcopy(self.channels[channel_id])
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": 4 if autocomplete else 2,
            "data": data,
            "channel_id": str(channel_id),
            "channel": channel,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "app_permissions": str(Permissions.ALL),
            "entitlements": [],
            "attachment_size_limit": Limits.UPLOAD_BYTES,
        }
        if guild_id:
            perms = self.member_permissions(user.id, guild_id) if permissions is None else permissions
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member={**copy.deepcopy(members[user.id]), "permissions": str(perms)},
                context=0,
                authorizing_integration_owners={"0": str(guild_id)},
            )
        else:
            payload.update(user=user.payload(), context=1, authorizing_integration_owners={"0": str(self.guild_id)})
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            payload=payload,
            created_at=asyncio.get_running_loop().time(),
            ack_deadline=self.interaction_ack_deadline if ack_deadline is None else ack_deadline,
            followup_window=self.followup_window,
            _double=self,
        )
        self.interactions[interaction_id] = record
        self._interactions_by_token[token] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    # ------------------------------------------------------------------ CDN

    async def _cdn_handler(self, request: web.Request) -> web.StreamResponse:
        att = self.attachments.get(int(request.match_info["attachment_id"]))
        if att is None or att.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=att.data, content_type=att.content_type or "application/octet-stream")

    # ------------------------------------------------------------------ REST plumbing

    @staticmethod
    def _json_response(data: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> web.Response:
        # discord.py only parses bodies whose Content-Type is exactly "application/json"
        return web.Response(
            body=_dumps(data).encode(), status=status, content_type="application/json", headers=headers or {}
        )

    @staticmethod
    def _ratelimit_headers(route: str) -> Dict[str, str]:
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": "double-" + re.sub(r"\W", "", route)[:32],
        }

    async def _read_body(self, request: web.Request) -> Tuple[Any, List[RecordedFile]]:
        files: List[RecordedFile] = []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue  # nested multipart: Discord does not use it
                raw = await part.read(decode=False)
                if part.name == "payload_json":
                    body = json.loads(raw)
                elif part.filename is not None or (part.name or "").startswith("files"):
                    files.append(
                        RecordedFile(part.name or "", part.filename, part.headers.get("Content-Type"), bytes(raw))
                    )
            return body, files
        raw_text = await request.text()
        if not raw_text:
            return None, files
        try:
            return json.loads(raw_text), files
        except ValueError:
            raise ApiError(400, 50109, "The request body contains invalid JSON.") from None

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        auth = request.headers.get("Authorization")
        if auth is not None:
            headers["Authorization"] = auth.split(" ", 1)[0] + " [REDACTED]"
        rec = RecordedRequest(request.method, path, dict(request.query), headers, None, [])
        self.requests.append(rec)
        status, body, extra_headers = await self._handle(request, path, auth, rec)
        rec.status, rec.response = status, body
        self._notify()
        if status == 204:
            return web.Response(status=204, headers=extra_headers)
        return self._json_response(body, status, extra_headers)

    async def _handle(
        self, request: web.Request, path: str, auth: Optional[str], rec: RecordedRequest
    ) -> Tuple[int, Any, Dict[str, str]]:
        try:
            rec.json, rec.files = await self._read_body(request)
        except ApiError as exc:
            return exc.status, exc.body(), {}
        for method, regex, template, handler, needs_auth in _ROUTES:
            if method != request.method:
                continue
            match = regex.fullmatch(path)
            if match is None:
                continue
            rec.route = f"{method} {template}"
            if needs_auth and auth != f"Bot {self.token}":
                return 401, {"message": "401: Unauthorized", "code": 0}, {}
            fault = self._take_fault(request.method, path)
            if fault is not None:
                return fault.status, fault.body, dict(fault.headers)
            try:
                result = await handler(self, request, match.groupdict(), rec)
            except InvalidFormBody as exc:
                return 400, {"message": "Invalid Form Body", "code": 50035, "errors": exc.errors}, {}
            except ApiError as exc:
                return exc.status, exc.body(), {}
            headers = self._ratelimit_headers(rec.route)
            if result is None:
                return 204, None, headers
            return 200, result, headers
        self.unknown_requests.append(rec)
        return 404, {"message": "404: Not Found", "code": 0}, {}

    # ------------------------------------------------------------------ REST lookups

    def _channel(self, channel_id: str) -> Json:
        channel = self.channels.get(int(channel_id)) if channel_id.isdigit() else None
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _message(self, channel_id: str, message_id: str) -> Json:
        self._channel(channel_id)
        msg = self.messages.get(int(message_id)) if message_id.isdigit() else None
        if msg is None or msg["channel_id"] != channel_id:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def _interaction(self, token: str) -> InteractionRecord:
        record = self._interactions_by_token.get(token)
        if record is None:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return record

    def _files_to_attachments(self, payload: Json, files: List[RecordedFile], keep: Sequence[Json] = ()) -> List[Json]:
        """Turn uploaded files (+ ``attachments`` descriptors) into hosted attachment objects."""
        for f in files:
            if len(f.data) > Limits.UPLOAD_BYTES:
                raise ApiError(413, 40005, "Request entity too large")
        descriptors = {str(d.get("id")): d for d in payload.get("attachments") or []}
        out = [copy.deepcopy(a) for a in keep]
        for index, f in enumerate(files):
            m = re.fullmatch(r"files\[(\d+)\]", f.field)
            key = m.group(1) if m else str(index)
            desc = descriptors.get(key, {})
            att = self.add_attachment(
                desc.get("filename") or f.filename or f"file{index}",
                f.data,
                f.content_type,
                description=desc.get("description"),
            )
            out.append(att.payload())
        return out

    def _apply_allowed_mentions(self, msg: Json, payload: Json) -> None:
        allowed = payload.get("allowed_mentions")
        if allowed is None:
            return
        parse = allowed.get("parse", [])
        users = set(allowed.get("users", []))
        if "users" not in parse:
            msg["mentions"] = [u for u in msg["mentions"] if u["id"] in users]
        if "roles" not in parse:
            roles = set(allowed.get("roles", []))
            msg["mention_roles"] = [r for r in msg["mention_roles"] if r in roles]
        if "everyone" not in parse:
            msg["mention_everyone"] = False

    def _bot_message(
        self,
        channel_id: int,
        payload: Json,
        files: List[RecordedFile],
        *,
        flags: int = 0,
        webhook: bool = False,
        interaction: Optional[InteractionRecord] = None,
    ) -> Json:
        """Build (but do not store) a message the bot sends."""
        msg = self._base_message(channel_id, self.bot_user, payload.get("content") or "")
        self._apply_allowed_mentions(msg, payload)
        msg["embeds"] = [{"type": "rich", **e} for e in payload.get("embeds") or []]
        msg["attachments"] = self._files_to_attachments(payload, files)
        msg["components"] = payload.get("components") or []
        msg["tts"] = bool(payload.get("tts", False))
        msg["flags"] = (int(payload.get("flags") or 0) & (4 | 4096 | MESSAGE_FLAG_EPHEMERAL)) | flags
        if "nonce" in payload:
            msg["nonce"] = payload["nonce"]
        if webhook:
            msg["webhook_id"] = str(self.application_id)
            msg["application_id"] = str(self.application_id)
        if interaction is not None:
            msg["type"] = 20  # CHAT_INPUT_COMMAND
            inv_user = interaction.payload.get("member", {}).get("user") or interaction.payload.get("user")
            msg["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": 2,
                "user": inv_user,
                "authorizing_integration_owners": interaction.payload.get("authorizing_integration_owners", {}),
                "name": interaction.payload["data"]["name"],
            }
        ref = payload.get("message_reference")
        if ref and ref.get("message_id"):
            try:
                reference, referenced = self._reference(channel_id, ref)
            except InvalidFormBody:
                if ref.get("fail_if_not_exists", True):
                    raise
            else:
                msg.update(type=19, message_reference=reference, referenced_message=referenced)
                mention_author = (payload.get("allowed_mentions") or {}).get("replied_user", True)
                if mention_author and all(u["id"] != referenced["author"]["id"] for u in msg["mentions"]):
                    msg["mentions"].append(referenced["author"])
        return msg

    async def _edit_message(self, msg: Json, payload: Json, files: List[RecordedFile]) -> Json:
        """Apply a PATCH body to a stored message (validated on the merged result)."""
        merged = {
            "content": payload["content"] if "content" in payload else msg["content"],
            "embeds": payload["embeds"] if "embeds" in payload else msg["embeds"],
            "attachments": payload["attachments"] if "attachments" in payload else msg["attachments"],
            "components": payload.get("components", msg["components"]),
        }
        validate_message_payload({**payload, **merged}, file_count=len(files), require_content=False)
        if _is_empty(merged, len(files)):
            raise ApiError(400, 50006, "Cannot send an empty message")
        if "content" in payload:
            msg["content"] = payload["content"] or ""
            msg["mentions"], msg["mention_roles"], msg["mention_everyone"] = self._mentions_from(msg["content"])
            self._apply_allowed_mentions(msg, payload)  # Discord applies an edit's allowed_mentions too
        if "embeds" in payload:
            msg["embeds"] = [{"type": "rich", **e} for e in payload["embeds"] or []]
        if "components" in payload:
            msg["components"] = payload["components"] or []
        if "attachments" in payload or files:
            kept_ids = {str(a.get("id")) for a in payload.get("attachments") or []}
            keep = [a for a in msg["attachments"] if a["id"] in kept_ids]
            msg["attachments"] = self._files_to_attachments(payload, files, keep)
        if "flags" in payload and payload["flags"] is not None:
            msg["flags"] = (msg["flags"] & ~4) | (int(payload["flags"]) & 4)
        msg["flags"] &= ~MESSAGE_FLAG_LOADING
        msg["edited_timestamp"] = _iso()
        await self._dispatch_update(msg)
        return copy.deepcopy(msg)

    async def _delete_message(self, msg: Json) -> None:
        mid = int(msg["id"])
        self.messages.pop(mid, None)
        self._notify()
        if not msg["flags"] & MESSAGE_FLAG_EPHEMERAL:
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if "guild_id" in msg:
                data["guild_id"] = msg["guild_id"]
            await self.dispatch("MESSAGE_DELETE", data, intent=self._message_intent(msg))

    # ------------------------------------------------------------------ REST handlers

    async def _h_me(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        return {
            **self.bot_user.payload(),
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "locale": "en-US",
            "bio": "",
        }

    async def _h_user(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        user = self.users.get(int(p["user_id"])) if p["user_id"].isdigit() else None
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return user.payload()

    async def _h_app(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self.owner.payload(),
            "team": None,
            "bot": self.bot_user.payload(),
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "approximate_guild_count": 1,
            "integration_types_config": {"0": {}},
        }

    async def _h_gateway(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        return {"url": self.gateway_url}

    async def _h_gateway_bot(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 86400000, "max_concurrency": 1},
        }

    def _command_store(self, p: Dict[str, str]) -> Dict[str, Json]:
        if p["application_id"] != str(self.application_id):
            raise ApiError(403, 50001, "Missing Access")
        if "guild_id" in p:
            if not p["guild_id"].isdigit() or int(p["guild_id"]) not in self.joined:
                raise ApiError(403, 50001, "Missing Access")
            return self.guild_commands.setdefault(int(p["guild_id"]), {})
        return self.global_commands

    def _command_out(self, body: Json, p: Dict[str, str], existing: Optional[Json]) -> Json:
        cmd = copy.deepcopy(body)
        cmd["id"] = existing["id"] if existing else str(self._new_id())
        cmd["application_id"] = str(self.application_id)
        cmd["version"] = str(self._new_id())
        cmd.setdefault("type", 1)
        cmd.setdefault("default_member_permissions", None)
        cmd.setdefault("nsfw", False)
        cmd.setdefault("description", "")
        if "guild_id" in p:
            cmd["guild_id"] = p["guild_id"]
        return cmd

    async def _h_commands_get(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> List[Json]:
        return copy.deepcopy(list(self._command_store(p).values()))

    async def _h_commands_put(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> List[Json]:
        store = self._command_store(p)
        validate_commands(rec.json)
        new = {c["name"]: self._command_out(c, p, store.get(c["name"])) for c in rec.json}
        store.clear()
        store.update(new)
        return copy.deepcopy(list(new.values()))

    async def _h_commands_post(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        store = self._command_store(p)
        validate_commands([rec.json])
        cmd = self._command_out(rec.json, p, store.get(rec.json["name"]))
        store[cmd["name"]] = cmd
        return copy.deepcopy(cmd)

    async def _h_command_delete(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        store = self._command_store(p)
        for name, cmd in list(store.items()):
            if cmd["id"] == p["command_id"]:
                del store[name]
                return None
        raise ApiError(404, 10063, "Unknown application command")

    def _joined_guild(self, guild_id: str) -> FakeGuild:
        """A guild the bot is in (others are "Unknown Guild" to it, as on Discord)."""
        if not guild_id.isdigit() or int(guild_id) not in self.joined:
            raise ApiError(404, 10004, "Unknown Guild")
        return self.guilds[int(guild_id)]

    async def _h_guild(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        data = self.guild_payload(guild_id=self._joined_guild(p["guild_id"]).id)
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "member_count",
        ):
            data.pop(key, None)
        return data

    async def _h_guild_channels(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> List[Json]:
        await self._h_guild(request, p, rec)
        return [
            copy.deepcopy(c)
            for c in self.channels.values()
            if c.get("guild_id") == p["guild_id"] and c["type"] == GUILD_TEXT
        ]

    async def _h_guild_member(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        members = self._joined_guild(p["guild_id"]).members
        member = members.get(int(p["user_id"])) if p["user_id"].isdigit() else None
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return copy.deepcopy(member)

    async def _h_guild_roles(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> List[Json]:
        return copy.deepcopy(list(self._joined_guild(p["guild_id"]).roles.values()))

    async def _h_guild_leave(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        """The bot leaves a guild: it is gone from the bot's guilds and GUILD_DELETE is dispatched."""
        guild = self._joined_guild(p["guild_id"])
        self.joined.remove(guild.id)
        await self.dispatch("GUILD_DELETE", {"id": str(guild.id)}, intent=Intents.GUILDS)

    async def _h_channel(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        return copy.deepcopy(self._channel(p["channel_id"]))

    async def _h_dm_open(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        recipient = str((rec.json or {}).get("recipient_id", ""))
        user = self.users.get(int(recipient)) if recipient.isdigit() else None
        if user is None:
            raise InvalidFormBody({"recipient_id": _err("NUMBER_TYPE_COERCE", "Value is not snowflake.")})
        return copy.deepcopy(self.channels[self.dm_channel_for(user)])

    async def _h_messages_get(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> List[Json]:
        self._channel(p["channel_id"])
        limit = max(1, min(100, int(request.query.get("limit", "50"))))
        msgs = self.messages_in(int(p["channel_id"]))
        if "before" in request.query:
            msgs = [m for m in msgs if int(m["id"]) < int(request.query["before"])]
        if "after" in request.query:
            msgs = [m for m in msgs if int(m["id"]) > int(request.query["after"])][:limit]
        return list(reversed(msgs))[:limit]  # newest first, like Discord

    async def _h_message_get(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        return copy.deepcopy(self._message(p["channel_id"], p["message_id"]))

    async def _h_message_post(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        channel = self._channel(p["channel_id"])
        payload = rec.json or {}
        validate_message_payload(payload, file_count=len(rec.files))
        if channel["type"] in (PUBLIC_THREAD, PRIVATE_THREAD) and channel["thread_metadata"].get("locked"):
            raise ApiError(403, 50083, "Thread is archived")
        msg = self._bot_message(int(p["channel_id"]), payload, rec.files)
        await self._store_and_dispatch(msg)
        return copy.deepcopy(msg)

    async def _h_message_patch(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        msg = self._message(p["channel_id"], p["message_id"])
        if int(msg["author"]["id"]) != self.bot_user.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        return await self._edit_message(msg, rec.json or {}, rec.files)

    async def _h_message_delete(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        await self._delete_message(self._message(p["channel_id"], p["message_id"]))
        return None

    async def _h_typing(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        self._channel(p["channel_id"])
        return None

    async def _h_reaction_put(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        msg = self._message(p["channel_id"], p["message_id"])
        emoji = p["emoji"]
        for reaction in msg["reactions"]:
            if reaction["emoji"]["name"] == emoji:
                if not reaction["me"]:
                    reaction["me"] = True
                    reaction["count"] += 1
                break
        else:
            msg["reactions"].append({"emoji": {"id": None, "name": emoji}, "count": 1, "me": True})
        self._notify()
        return None

    async def _h_reaction_delete(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        msg = self._message(p["channel_id"], p["message_id"])
        for reaction in list(msg["reactions"]):
            if reaction["emoji"]["name"] == p["emoji"] and reaction["me"]:
                reaction["me"] = False
                reaction["count"] -= 1
                if reaction["count"] <= 0:
                    msg["reactions"].remove(reaction)
        self._notify()
        return None

    def _check_thread_name(self, body: Json) -> str:
        name = body.get("name") or ""
        if not 1 <= len(name) <= Limits.THREAD_NAME:
            raise InvalidFormBody(
                {"name": _err("BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {Limits.THREAD_NAME} in length.")}
            )
        return name

    async def _h_thread_from_message(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        msg = self._message(p["channel_id"], p["message_id"])
        if "guild_id" not in msg:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        name = self._check_thread_name(rec.json or {})
        if int(msg["id"]) in self.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = await self.create_thread(int(p["channel_id"]), name, owner=self.bot_user, thread_id=int(msg["id"]))
        msg["thread"] = copy.deepcopy(thread)
        return thread

    async def _h_thread_create(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        channel = self._channel(p["channel_id"])
        if channel["type"] != GUILD_TEXT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        name = self._check_thread_name(rec.json or {})
        return await self.create_thread(int(p["channel_id"]), name, owner=self.bot_user)

    async def _h_thread_join(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        self._channel(p["channel_id"])
        return None

    async def _h_interaction_callback(
        self, request: web.Request, p: Dict[str, str], rec: RecordedRequest
    ) -> Optional[Json]:
        record = self.interactions.get(int(p["interaction_id"])) if p["interaction_id"].isdigit() else None
        try:
            if record is None or record.token != p["token"]:
                raise ApiError(404, 10062, "Unknown interaction")
            elapsed = asyncio.get_running_loop().time() - record.created_at
            if record.acknowledged:
                raise ApiError(400, 40060, "Interaction has already been acknowledged.")
            if elapsed > record.ack_deadline:
                raise ApiError(404, 10062, "Unknown interaction")
            body = rec.json or {}
            cb_type = body.get("type")
            data = body.get("data") or {}
            message: Optional[Json] = None
            if record.payload["type"] == 4:  # autocomplete: only choices may answer it
                if cb_type != 8 or not isinstance(data.get("choices"), list) or len(data["choices"]) > 25:
                    raise InvalidFormBody({"type": _err("INTERACTION_CALLBACK_TYPE_INVALID", "Invalid callback")})
                record.choices = data["choices"]
            elif cb_type == 4:
                validate_message_payload(data, file_count=len(rec.files))
                record.ephemeral = bool(int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
                message = self._bot_message(record.channel_id, data, rec.files, webhook=True, interaction=record)
            elif cb_type == 5:
                record.ephemeral = bool(int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
                message = self._bot_message(
                    record.channel_id, {}, [], flags=MESSAGE_FLAG_LOADING, webhook=True, interaction=record
                )
                message["flags"] |= MESSAGE_FLAG_EPHEMERAL if record.ephemeral else 0
                record.deferred_pending = True
            elif cb_type == 9:
                if not data.get("custom_id") or not data.get("title"):
                    raise InvalidFormBody({"data": _err("BASE_TYPE_REQUIRED", "This field is required")})
            elif cb_type in (6, 7, 8):
                raise ApiError(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "type": _err(
                            "INTERACTION_CALLBACK_TYPE_INVALID", "Invalid callback type for an application command"
                        )
                    },
                )
            else:
                raise InvalidFormBody(
                    {"type": _err("BASE_TYPE_CHOICES", "Value must be one of {1, 4, 5, 6, 7, 8, 9, 10, 12}.")}
                )
        except (ApiError, InvalidFormBody):
            if record is not None:
                record.callback_attempts.append(400)
            raise
        record.response_type = cb_type
        record.callback_attempts.append(200)
        if message is not None:
            if cb_type == 4:
                message["flags"] |= MESSAGE_FLAG_EPHEMERAL if record.ephemeral else 0
            record.original_message_id = int(message["id"])
            await self._store_and_dispatch(message)
        self._notify()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return None
        out: Json = {
            "interaction": {
                "id": str(record.id),
                "type": 2,
                "response_message_loading": cb_type == 5,
                "response_message_ephemeral": record.ephemeral,
            },
            "resource": {"type": cb_type},
        }
        if message is not None:
            out["interaction"]["response_message_id"] = message["id"]
            out["resource"]["message"] = copy.deepcopy(message)
        return out

    def _live_webhook(self, p: Dict[str, str]) -> InteractionRecord:
        if p["application_id"] != str(self.application_id):
            raise ApiError(404, 10015, "Unknown Webhook")
        record = self._interaction(p["token"])
        if asyncio.get_running_loop().time() - record.created_at > record.followup_window:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        if not record.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        return record

    async def _h_followup(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Optional[Json]:
        record = self._live_webhook(p)
        payload = rec.json or {}
        validate_message_payload(payload, file_count=len(rec.files))
        original = self.messages.get(record.original_message_id or 0)
        if record.deferred_pending and original is not None:
            # The first follow-up after a type-5 defer fills the "thinking" message
            # (same id; inherits the defer's ephemerality), like Discord does.
            record.deferred_pending = False
            result = await self._edit_message(original, payload, rec.files)
        else:
            msg = self._bot_message(record.channel_id, payload, rec.files, webhook=True, interaction=record)
            record.followup_ids.append(int(msg["id"]))
            await self._store_and_dispatch(msg)
            result = copy.deepcopy(msg)
        wait = request.query.get("wait", "false").lower() in ("1", "true")
        return result if wait else None

    def _webhook_message(self, record: InteractionRecord, message_id: str) -> Json:
        mid = (
            record.original_message_id
            if message_id == "@original"
            else (int(message_id) if message_id.isdigit() else None)
        )
        if mid is None or (mid != record.original_message_id and mid not in record.followup_ids):
            raise ApiError(404, 10008, "Unknown Message")
        msg = self.messages.get(mid)
        if msg is None:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    async def _h_webhook_msg_get(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        record = self._live_webhook(p)
        return copy.deepcopy(self._webhook_message(record, p["message_id"]))

    async def _h_webhook_msg_patch(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> Json:
        record = self._live_webhook(p)
        msg = self._webhook_message(record, p["message_id"])
        if msg["id"] == str(record.original_message_id):
            record.deferred_pending = False
        return await self._edit_message(msg, rec.json or {}, rec.files)

    async def _h_webhook_msg_delete(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        record = self._live_webhook(p)
        await self._delete_message(self._webhook_message(record, p["message_id"]))
        return None


def _compile_routes(
    table: Sequence[Tuple[str, str, Callable[..., Awaitable[Any]], bool]],
) -> List[Tuple[str, re.Pattern[str], str, Callable[..., Awaitable[Any]], bool]]:
    out = []
    for method, template, handler, needs_auth in table:
        regex = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)))
        out.append((method, regex, template, handler, needs_auth))
    return out


_D = DiscordDouble
#: (method, path template, handler, requires "Authorization: Bot <token>")
_ROUTES = _compile_routes(
    [
        ("GET", "/users/@me", _D._h_me, True),
        ("POST", "/users/@me/channels", _D._h_dm_open, True),
        ("GET", "/users/{user_id}", _D._h_user, True),
        ("GET", "/oauth2/applications/@me", _D._h_app, True),
        ("GET", "/applications/@me", _D._h_app, True),
        ("GET", "/gateway", _D._h_gateway, False),
        ("GET", "/gateway/bot", _D._h_gateway_bot, True),
        ("GET", "/applications/{application_id}/commands", _D._h_commands_get, True),
        ("PUT", "/applications/{application_id}/commands", _D._h_commands_put, True),
        ("POST", "/applications/{application_id}/commands", _D._h_commands_post, True),
        ("DELETE", "/applications/{application_id}/commands/{command_id}", _D._h_command_delete, True),
        ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", _D._h_commands_get, True),
        ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", _D._h_commands_put, True),
        ("POST", "/applications/{application_id}/guilds/{guild_id}/commands", _D._h_commands_post, True),
        (
            "DELETE",
            "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
            _D._h_command_delete,
            True,
        ),
        ("DELETE", "/users/@me/guilds/{guild_id}", _D._h_guild_leave, True),
        ("GET", "/guilds/{guild_id}", _D._h_guild, True),
        ("GET", "/guilds/{guild_id}/channels", _D._h_guild_channels, True),
        ("GET", "/guilds/{guild_id}/members/{user_id}", _D._h_guild_member, True),
        ("GET", "/guilds/{guild_id}/roles", _D._h_guild_roles, True),
        ("GET", "/channels/{channel_id}", _D._h_channel, True),
        ("GET", "/channels/{channel_id}/messages", _D._h_messages_get, True),
        ("POST", "/channels/{channel_id}/messages", _D._h_message_post, True),
        ("GET", "/channels/{channel_id}/messages/{message_id}", _D._h_message_get, True),
        ("PATCH", "/channels/{channel_id}/messages/{message_id}", _D._h_message_patch, True),
        ("DELETE", "/channels/{channel_id}/messages/{message_id}", _D._h_message_delete, True),
        ("POST", "/channels/{channel_id}/typing", _D._h_typing, True),
        ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", _D._h_reaction_put, True),
        ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", _D._h_reaction_delete, True),
        ("POST", "/channels/{channel_id}/messages/{message_id}/threads", _D._h_thread_from_message, True),
        ("POST", "/channels/{channel_id}/threads", _D._h_thread_create, True),
        ("PUT", "/channels/{channel_id}/thread-members/@me", _D._h_thread_join, True),
        ("POST", "/interactions/{interaction_id}/{token}/callback", _D._h_interaction_callback, False),
        ("POST", "/webhooks/{application_id}/{token}", _D._h_followup, False),
        ("GET", "/webhooks/{application_id}/{token}/messages/{message_id}", _D._h_webhook_msg_get, False),
        ("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}", _D._h_webhook_msg_patch, False),
        ("DELETE", "/webhooks/{application_id}/{token}/messages/{message_id}", _D._h_webhook_msg_delete, False),
    ]
)
