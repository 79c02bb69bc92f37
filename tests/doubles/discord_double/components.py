"""The Discord double's other interactions: message commands (type 2, data.type 3), component clicks (type 3) and
modal submits (type 5), and the responses only they take: deferred update (6), update message (7), modal (9)."""

from __future__ import annotations

import asyncio
import copy
import secrets
from typing import Mapping, Optional

from .models import FakeUser, InteractionRecord, Json, Limits, Permissions
from .validation import ApiError, InvalidFormBody, _err, validate_message_payload, validate_modal

MESSAGE_COMMAND = 3
COMPONENT = 3
MODAL_SUBMIT = 5


class ComponentActions:
    """Acting as a user on messages and components; answering the callbacks of those interactions."""

    async def invoke_message_command(self, name: str, message: Json, *, user: Optional[FakeUser] = None
                                     ) -> InteractionRecord:
        """Apps → `name` on `message` as `user`: the client sends the target's id and the message in `resolved`
        (its content included: a message command needs no Message Content intent)."""
        definition = self.global_commands.get(name) or self.guild_commands.get(self.guild_id, {}).get(name)
        if definition is None or definition.get("type") != MESSAGE_COMMAND:
            raise LookupError(f"message command {name!r} is not registered")
        data = {"id": definition["id"], "name": name, "type": MESSAGE_COMMAND, "target_id": message["id"],
                "resolved": {"messages": {message["id"]: copy.deepcopy(self.get_message(int(message["id"])))}}}
        return await self._interact(2, data, user, int(message["channel_id"]))

    async def click(self, message: Json, custom_id: str, *, user: Optional[FakeUser] = None) -> InteractionRecord:
        """`user` presses the button `custom_id` on `message` (as stored now; an ephemeral one only its owner sees)."""
        stored = self.get_message(int(message["id"]))
        ids = [c.get("custom_id") for row in stored["components"] for c in row.get("components", [])]
        if custom_id not in ids:
            raise LookupError(f"no button {custom_id!r} on message {message['id']}; it has {ids}")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(COMPONENT, data, user, int(stored["channel_id"]), copy.deepcopy(stored))

    async def submit_modal(self, opened: InteractionRecord, values: Mapping[str, str], *,
                           user: Optional[FakeUser] = None) -> InteractionRecord:
        """Submit the modal that `opened` answered with (callback 9), its text inputs filled with `values`."""
        modal = opened.modal
        if modal is None:
            raise LookupError(f"interaction {opened.id} opened no modal")
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": c["custom_id"],
                                            "value": values.get(c["custom_id"], "")}
                                           for c in row.get("components", [])]} for row in modal["components"]]
        data = {"custom_id": modal["custom_id"], "components": rows}
        message = opened.payload.get("message")
        return await self._interact(MODAL_SUBMIT, data, user, opened.channel_id, message)

    async def _interact(self, kind: int, data: Json, user: Optional[FakeUser], channel_id: int,
                        message: Optional[Json] = None) -> InteractionRecord:
        user = user or self.member
        guild_id = self.guild_of(channel_id)
        self.users.setdefault(user.id, user)
        interaction_id, token = self._new_id(), "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload: Json = {
            "id": str(interaction_id), "application_id": str(self.application_id), "type": kind, "data": data,
            "channel_id": str(channel_id), "channel": copy.deepcopy(self.channels[channel_id]), "token": token,
            "version": 1, "locale": "en-US", "app_permissions": str(Permissions.ALL), "entitlements": [],
            "attachment_size_limit": Limits.UPLOAD_BYTES,
        }
        if message is not None:
            payload["message"] = message
        if guild_id:
            if user.id not in self.guilds[guild_id].members:
                self.add_user(user, guild_id=guild_id)
            member = self.guilds[guild_id].members[user.id]
            payload.update(guild_id=str(guild_id), guild={"id": str(guild_id), "locale": "en-US", "features": []},
                           guild_locale="en-US", context=0, authorizing_integration_owners={"0": str(guild_id)},
                           member={**copy.deepcopy(member),
                                   "permissions": str(self.member_permissions(user.id, guild_id))})
        else:
            payload.update(user=user.payload(), context=1, authorizing_integration_owners={"0": str(self.guild_id)})
        record = InteractionRecord(id=interaction_id, token=token, payload=payload,
                                   created_at=asyncio.get_running_loop().time(),
                                   ack_deadline=self.interaction_ack_deadline,
                                   followup_window=self.followup_window, _double=self)
        self.interactions[interaction_id] = record
        self._interactions_by_token[token] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    async def _component_callback(self, record: InteractionRecord, cb_type: int, data: Json, files: list) -> None:
        """Callbacks 6, 7 and 9 of a component or modal interaction, as Discord answers them; a message command
        takes neither 6 nor 7, and a modal submit cannot open another modal."""
        kind, message = record.payload["type"], record.payload.get("message")
        if kind == 2 or (cb_type in (6, 7) and message is None) or (cb_type == 9 and kind == MODAL_SUBMIT):
            raise InvalidFormBody({"type": _err("INTERACTION_CALLBACK_TYPE_INVALID", "Invalid callback type")})
        if cb_type == 9:
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise InvalidFormBody({"data": _err("BASE_TYPE_REQUIRED", "This field is required")})
            validate_modal(data)
            record.modal = copy.deepcopy(data)
            return
        stored = self.messages.get(int(message["id"]))  # the stored message itself, not a copy
        if stored is None:
            raise ApiError(404, 10008, "Unknown Message")
        record.original_message_id = int(stored["id"])  # @original is the component's message
        if cb_type == 7:
            validate_message_payload(data, file_count=len(files), require_content=False)
            await self._edit_message(stored, data, files)


def component_ids(message: Json) -> list[str]:
    """The custom ids of a message's buttons, row by row."""
    return [c.get("custom_id") for row in message.get("components") or [] for c in row.get("components", [])]


__all__ = ["ComponentActions", "component_ids"]
