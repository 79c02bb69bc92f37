"""What a test does as a Discord user through the double: messages, DMs and slash-command invocations."""

from __future__ import annotations

import asyncio
import copy
import re
import secrets
from typing import (
    Any,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from .models import (
    MESSAGE_FLAG_EPHEMERAL,
    FakeUser,
    GatewaySession,
    Intents,
    InteractionRecord,
    Json,
    Limits,
    Permissions,
    UploadedAttachment,
    _iso,
)
from .validation import (
    InvalidFormBody,
    _err,
)


class UserActions:
    """User-side events, dispatched to the bot over the gateway."""

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
