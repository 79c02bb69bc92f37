"""The Discord double's gateway: HELLO, IDENTIFY, RESUME, heartbeats, member chunks and event dispatch."""

from __future__ import annotations

import copy
import json
import secrets
from typing import (
    Callable,
    Optional,
)

from aiohttp import WSMsgType, web

from .forums import GUILD_FORUM
from .models import (
    GUILD_TEXT,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    GatewaySession,
    Intents,
    Json,
    _GatewayConnection,
    _iso,
)


class Gateway:
    """The websocket side of the double."""

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
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self.joined if _on_shard(session, gid)],
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
            if _on_shard(session, gid):
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
            if c.get("guild_id") == str(guild.id) and c["type"] in (GUILD_TEXT, GUILD_FORUM)
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
            if not _on_shard(session, _guild_of_event(event, data)):
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


def _guild_of_event(event: str, data: Json) -> int | None:
    """The guild an event belongs to (None: a DM or a user's own event)."""
    gid = data.get("guild_id") or (data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE")
                                   else None)
    return int(gid) if gid else None


def _on_shard(session: GatewaySession, guild_id: int | None) -> bool:
    """Whether Discord sends this guild's events to the session: a session that identified with
    ``shard: [id, count]`` gets the guilds with ``(guild_id >> 22) % count == id`` (and DMs on shard 0 only)."""
    if not session.shard:
        return True
    shard_id, count = int(session.shard[0]), int(session.shard[1])
    return ((guild_id >> 22) % count if guild_id else 0) == shard_id
