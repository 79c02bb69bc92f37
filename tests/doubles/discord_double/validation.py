"""What the Discord double refuses as Discord does: its JSON error shapes and the payload and command checks."""

from __future__ import annotations

import re
from typing import (
    Any,
    List,
    Optional,
    Sequence,
    Tuple,
)

from .models import (
    Json,
    Limits,
)


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
    component_errors(payload.get("components"), errors)
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


def _length(errors: Json, where: List[str], value: Any, low: int, high: int) -> None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        _put_error(errors, where, _err("BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."))


def component_errors(rows: Any, errors: Json) -> None:
    """Discord's checks of a message's buttons: at most 5 action rows of at most 5 buttons; a button has a label
    of at most 80 and a unique custom_id of 1-100 characters (a link button a url instead)."""
    if not rows:
        return
    if len(rows) > 5:
        _put_error(errors, ["components"], _err("BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
    seen: set = set()
    for r, row in enumerate(rows):
        items = row.get("components") or []
        if row.get("type") != 1 or not 1 <= len(items) <= 5:
            _put_error(errors, ["components", str(r)], _err("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5."))
        for i, item in enumerate(items):
            where = ["components", str(r), "components", str(i)]
            if item.get("label") is not None:
                _length(errors, where + ["label"], item["label"], 0, 80)
            if item.get("style") == 5:
                continue
            _length(errors, where + ["custom_id"], item.get("custom_id"), 1, 100)
            if item.get("custom_id") in seen:
                _put_error(errors, where + ["custom_id"],
                           _err("COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"))
            seen.add(item.get("custom_id"))


def validate_modal(data: Json) -> None:
    """Discord's checks of a modal (callback 9): a title of 1-45 characters, a custom_id of 1-100, 1-5 rows of one
    text input each, whose label is 1-45 characters and whose lengths lie within 0-4000."""
    errors: Json = {}
    _length(errors, ["data", "title"], data.get("title"), 1, 45)
    _length(errors, ["data", "custom_id"], data.get("custom_id"), 1, 100)
    rows = data.get("components") or []
    if not 1 <= len(rows) <= 5:
        _put_error(errors, ["data", "components"], _err("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5."))
    for r, row in enumerate(rows):
        for i, item in enumerate(row.get("components") or []):
            where = ["data", "components", str(r), "components", str(i)]
            _length(errors, where + ["label"], item.get("label"), 1, 45)
            _length(errors, where + ["custom_id"], item.get("custom_id"), 1, 100)
            low, high = item.get("min_length", 0), item.get("max_length", 4000)
            if not 0 <= low <= high <= 4000 or high < 1:
                _put_error(errors, where + ["max_length"], _err("NUMBER_TYPE_MAX", "Must be 4000 or less."))
    if errors:
        raise InvalidFormBody(errors)
