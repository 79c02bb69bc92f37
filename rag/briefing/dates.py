"""The days a briefing covers, as people type them: `YYYY-MM-DD`, `today`, `yesterday`, `24h`, `7d`.

Errors say what was wrong and name no option: each front end parses its own options with these and names its own
flag (`--since`) or Discord option (`date`) in what it shows.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from rag.articles.article import parse_date


def parse_day(value: str, today: date) -> date:
    """`today`, `yesterday` or a date (YYYY-MM-DD and the other forms `parse_date` reads); ValueError otherwise."""
    text = (value or "").strip().lower()
    if text in ("today", "yesterday"):
        return today - timedelta(days=text == "yesterday")
    try:
        return parse_date(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD, today or yesterday)") from None


def days_back(value: str) -> int | None:
    """`24h` → 1, `7d` → 7: the days before the last one that a span covers; None if `value` is not a span.

    Articles carry dates, not times: `24h` means yesterday and today, and any part of a day counts as one."""
    relative = re.fullmatch(r"\s*(\d{1,4})\s*([hd])\s*", value)
    if not relative:
        return None
    amount, unit = int(relative.group(1)), relative.group(2)
    return -(-amount // 24) if unit == "h" else amount


def last_days(end: date, span: str = "24h") -> tuple[date, date]:
    """The days a span covers up to `end` (the default when a briefing names no day: yesterday and today)."""
    days = days_back(span)
    if days is None:
        raise ValueError(f"{span!r} is not a span such as 24h or 7d")
    return end - timedelta(days=days), end
