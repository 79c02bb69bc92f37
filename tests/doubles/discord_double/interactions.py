"""The Discord double's interaction routes: callbacks, follow-ups and the webhook messages they make."""

from __future__ import annotations

import asyncio
import copy
from typing import (
    Dict,
    Optional,
)

from aiohttp import web

from .models import (
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    InteractionRecord,
    Json,
    RecordedRequest,
)
from .validation import (
    ApiError,
    InvalidFormBody,
    _err,
    validate_message_payload,
)


class InteractionRoutes:
    """REST handlers for interactions and their webhooks."""

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
            elif cb_type in (6, 7, 9) and (record.payload["type"] != 2 or cb_type != 9):
                await self._component_callback(record, cb_type, data, rec.files)  # components.py
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
                record.modal = data
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
