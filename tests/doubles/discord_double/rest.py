"""The Discord double's REST plumbing: the CDN, request recording and routing, and the lookups the handlers share."""

from __future__ import annotations

import copy
import json
import re
import time
from typing import (
    Any,
    Dict,
    List,
    Optional,
    Sequence,
    Tuple,
)

from aiohttp import BodyPartReader, web

from .models import (
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    InteractionRecord,
    Json,
    Limits,
    RecordedFile,
    RecordedRequest,
    _dumps,
    _iso,
)
from .routes import _ROUTES
from .validation import (
    ApiError,
    InvalidFormBody,
    _is_empty,
    validate_message_payload,
)


class RestPlumbing:
    """Receive, record and route each REST request; shared lookups and message writes."""

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
            kind, data = interaction.payload["type"], interaction.payload["data"]
            # CHAT_INPUT_COMMAND, CONTEXT_MENU_COMMAND, or DEFAULT for a component's or modal's reply
            msg["type"] = 0 if kind != 2 else (23 if data.get("type") == 3 else 20)
            inv_user = interaction.payload.get("member", {}).get("user") or interaction.payload.get("user")
            msg["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": kind,
                "user": inv_user,
                "authorizing_integration_owners": interaction.payload.get("authorizing_integration_owners", {}),
            }
            if kind == 2:
                msg["interaction_metadata"]["name"] = data["name"]
            elif "message" in interaction.payload:
                msg["interaction_metadata"]["interacted_message_id"] = interaction.payload["message"]["id"]
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
