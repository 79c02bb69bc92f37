"""The Discord double itself: its state at construction and its lifecycle (start, close, pointing discord.py at
it, running a bot); each other side of it is a mixin in a sibling module."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Union,
)

from aiohttp import web

from .components import ComponentActions
from .faults import FaultInjection
from .forums import ForumActions
from .gateway import Gateway
from .interactions import InteractionRoutes
from .models import (
    API_PREFIX,
    GUILD_TEXT,
    FakeGuild,
    FakeUser,
    GatewaySession,
    InteractionRecord,
    Json,
    Limits,
    Permissions,
    RecordedRequest,
    UploadedAttachment,
    _Fault,
)
from .rest import RestPlumbing
from .routes import RestRoutes
from .state import WorldState
from .users import UserActions

# --------------------------------------------------------------------------- the double

Handler = Callable[[web.Request, Dict[str, str], RecordedRequest], Awaitable[Union[Json, List[Any], None]]]


class DiscordDouble(WorldState, ComponentActions, ForumActions, FaultInjection, Gateway, UserActions, RestPlumbing,
                    RestRoutes, InteractionRoutes):
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
