"""Hand labels as the evaluations read them: one JSON file holding a list under one key."""

from __future__ import annotations

import json
from pathlib import Path

from rag.errors import EvalError


def label_list(path: Path, key: str) -> list:
    """`{key: [...]}` from the labels file at `path`, non-empty; EvalError naming the file otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalError(f"labels file {path}: not readable JSON ({exc})") from None
    rows = data.get(key) if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise EvalError(f'labels file {path}: expected {{"{key}": [...]}} with at least one entry')
    return rows
