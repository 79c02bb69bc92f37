"""The Discord double's REST routes (application, commands, guilds, channels, messages, threads) and the
route table `_ROUTES` that maps each method and path to its handler."""

from __future__ import annotations

import copy
import re
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Optional,
    Sequence,
    Tuple,
)

from aiohttp import web

from .forums import GUILD_FORUM, refuse_forum_message
from .interactions import InteractionRoutes
from .models import (
    GUILD_TEXT,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    FakeGuild,
    Intents,
    Json,
    Limits,
    RecordedRequest,
)
from .validation import (
    ApiError,
    InvalidFormBody,
    _err,
    validate_commands,
    validate_message_payload,
)


class RestRoutes:
    """REST handlers for the routes a bot uses, in Discord's JSON shapes."""

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
        refuse_forum_message(channel)
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
        if channel["type"] == GUILD_FORUM:
            return await self._forum_post(channel, rec.json or {}, rec)
        if channel["type"] != GUILD_TEXT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        name = self._check_thread_name(rec.json or {})
        return await self.create_thread(int(p["channel_id"]), name, owner=self.bot_user)

    async def _h_thread_join(self, request: web.Request, p: Dict[str, str], rec: RecordedRequest) -> None:
        self._channel(p["channel_id"])
        return None



def _compile_routes(
    table: Sequence[Tuple[str, str, Callable[..., Awaitable[Any]], bool]],
) -> List[Tuple[str, re.Pattern[str], str, Callable[..., Awaitable[Any]], bool]]:
    out = []
    for method, template, handler, needs_auth in table:
        regex = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)))
        out.append((method, regex, template, handler, needs_auth))
    return out


_D = RestRoutes
_I = InteractionRoutes
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
        ("POST", "/interactions/{interaction_id}/{token}/callback", _I._h_interaction_callback, False),
        ("POST", "/webhooks/{application_id}/{token}", _I._h_followup, False),
        ("GET", "/webhooks/{application_id}/{token}/messages/{message_id}", _I._h_webhook_msg_get, False),
        ("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}", _I._h_webhook_msg_patch, False),
        ("DELETE", "/webhooks/{application_id}/{token}/messages/{message_id}", _I._h_webhook_msg_delete, False),
    ]
)
