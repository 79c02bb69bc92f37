"""The Discord double's world (users, guilds, channels, threads, attachments) and what a test reads back."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from typing import (
    Callable,
    List,
    Optional,
    Sequence,
    Union,
)

from .gateway import _on_shard
from .models import (
    DISCORD_EPOCH_MS,
    DM,
    MESSAGE_FLAG_EPHEMERAL,
    PUBLIC_THREAD,
    FakeGuild,
    FakeUser,
    GatewaySession,
    Intents,
    Json,
    Permissions,
    RecordedRequest,
    T,
    UploadedAttachment,
    _iso,
)
from .validation import (
    _route_regex,
)


class WorldState:
    """World helpers and inspection: building the fake Discord and waiting on what the bot did."""

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

    def add_guild(self, name: str, *, joined: bool = True, shard: tuple[int, int] | None = None) -> FakeGuild:
        """Another guild with a ``general`` channel, an Admin role and an admin of its own (a member of no other
        guild). With ``joined`` the bot is in it from the next IDENTIFY (use :meth:`add_bot_to_guild` for a live
        join). ``shard=(id, count)`` gives it an id Discord routes to that shard."""
        if shard is not None:  # a millisecond ahead of the clock on that shard (snowflakes stay increasing)
            ms = (self._new_id() >> 22) + 50
            ms += (shard[0] - ms) % shard[1]
            self._last_id = (ms << 22) - 1
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
            if session.resumable and _on_shard(session, guild_id):
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
