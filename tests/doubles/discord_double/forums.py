"""Forum channels (type 15) in the double: their `available_tags`, and forum posts.

A forum post is a thread whose first message is created with it: `POST /channels/{id}/threads` with `message`
(a message body) and optional `applied_tags` (ids from the forum's `available_tags`, at most 5). The answer is the thread
object with the message under `message`. A forum takes no messages of its own (`POST /channels/{forum}/messages` is refused with 50024 by routes.py).
"""

from __future__ import annotations

import copy
from typing import Dict, List, Sequence

from .models import Json, RecordedRequest
from .validation import ApiError, InvalidFormBody, _err, validate_message_payload

GUILD_FORUM = 15
MAX_APPLIED_TAGS = 5


class ForumActions:
    """Make forums and take forum posts (a mixin of DiscordDouble)."""

    def add_forum(self, name: str, tags: Sequence[str] = (), guild_id: int | None = None) -> int:
        """A forum channel in the guild with these tag names; returns its id. Add it before the bot connects (it
        is in GUILD_CREATE)."""
        gid = guild_id or self.guild_id
        cid = self._new_id()
        channel = self._text_channel(cid, gid, name, len(self.channels))
        channel.update(type=GUILD_FORUM, default_auto_archive_duration=1440, default_thread_rate_limit_per_user=0,
                       default_reaction_emoji=None, default_sort_order=None, default_forum_layout=0,
                       available_tags=[{"id": str(self._new_id()), "name": tag, "moderated": False,
                                        "emoji_id": None, "emoji_name": None} for tag in tags])
        self.channels[cid] = channel
        return cid

    def forum_posts(self, forum_id: int) -> List[Json]:
        """The forum's posts (threads), oldest first, each with `messages` (its messages, oldest first) and
        `tags` (the names of its applied tags)."""
        names = {t["id"]: t["name"] for t in self.channels[forum_id].get("available_tags", [])}
        posts = [c for c in self.channels.values() if c.get("parent_id") == str(forum_id)]
        return [{**copy.deepcopy(p), "messages": self.messages_in(int(p["id"])),
                 "tags": [names[t] for t in p.get("applied_tags", [])]} for p in sorted(posts, key=lambda p: int(p["id"]))]

    async def _forum_post(self, forum: Json, body: Json, rec: RecordedRequest) -> Json:
        name = self._check_thread_name(body)
        message = body.get("message")
        if not isinstance(message, dict):
            raise InvalidFormBody({"message": _err("BASE_TYPE_REQUIRED", "This field is required")})
        validate_message_payload(message, file_count=len(rec.files))
        tags = [str(t) for t in body.get("applied_tags") or []]
        known = {t["id"] for t in forum.get("available_tags", [])}
        if len(tags) > MAX_APPLIED_TAGS or not set(tags) <= known:
            raise InvalidFormBody({"applied_tags": _err("BASE_TYPE_BAD_VALUE", "Invalid tags")})
        thread = await self.create_thread(int(forum["id"]), name, owner=self.bot_user)
        self.channels[int(thread["id"])]["applied_tags"] = tags
        msg = self._bot_message(int(thread["id"]), message, rec.files)
        await self._store_and_dispatch(msg)
        return {**self.channels[int(thread["id"])], "message": copy.deepcopy(msg)}


def refuse_forum_message(channel: Dict) -> None:
    """Discord takes no message in a forum itself, only in its posts."""
    if channel.get("type") == GUILD_FORUM:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
