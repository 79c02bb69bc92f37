"""Fault injection for the Discord double: 429 rate limits and error statuses on the next matching requests."""

from __future__ import annotations

import math
import re
import time
from typing import (
    Dict,
    Optional,
)

from .models import (
    Json,
    _Fault,
)
from .validation import (
    _route_regex,
)


class FaultInjection:
    """Queue faults for the next N matching REST requests."""

    # ------------------------------------------------------------------ fault injection

    def inject_rate_limit(
        self,
        route: str = "*",
        *,
        count: int = 1,
        retry_after: float = 0.1,
        is_global: bool = False,
        scope: str = "user",
        after: int = 0,
    ) -> None:
        """Answer the next ``count`` requests matching ``route`` with 429 (body + Retry-After/X-RateLimit-*).

        ``after`` lets that many matching requests through first (e.g. ``after=1`` rate-limits the second send).
        """
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        if is_global:
            body["code"] = 0
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "double-" + re.sub(r"\W", "", route)[:24],
            "X-RateLimit-Scope": "global" if is_global else scope,
            "Via": "1.1 google",  # discord.py treats a 429 without Via as a Cloudflare ban
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        self._add_fault(route, count, 429, body, headers, after)

    def inject_error(
        self,
        route: str = "*",
        *,
        status: int = 500,
        count: int = 1,
        code: int = 0,
        message: Optional[str] = None,
        after: int = 0,
    ) -> None:
        """Answer the next ``count`` requests matching ``route`` with ``status`` and a Discord error body.

        ``after`` lets that many matching requests through first.
        """
        default = {500: "500: Internal Server Error", 502: "502: Bad Gateway", 403: "Missing Permissions"}
        body = {"message": message or default.get(status, f"{status}: Error"), "code": code}
        self._add_fault(route, count, status, body, {}, after)

    def inject_server_error(
        self,
        route: str = "POST /channels/{channel_id}/messages",
        *,
        count: int = 1,
        status: int = 500,
        after: int = 0,
    ) -> None:
        """Answer the next ``count`` sends (by default message creates) with a 5xx, after letting ``after`` through."""
        self.inject_error(route, status=status, count=count, after=after)

    def _add_fault(
        self, route: str, count: int, status: int, body: Json, headers: Dict[str, str], after: int = 0
    ) -> None:
        method, regex = _route_regex(route)
        self._faults.append(_Fault(method, regex, count, status, body, headers, skip=after))

    @property
    def pending_faults(self) -> int:
        """How many injected faults have not been served yet (0 once every fault hit a request)."""
        return sum(f.remaining for f in self._faults)

    def _take_fault(self, method: str, path: str) -> Optional[_Fault]:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in ("*", method) and fault.path_re.fullmatch(path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None
