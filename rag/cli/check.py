"""`newsbot check "TEXT"`: each claim of a text supported, contradicted or not in the articles, with quotes."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rag.cli.common import end_quickly, fail, load_settings, out
from rag.errors import NewsbotError, QuestionError

LABELS = {"supported": "supported", "contradicted": "CONTRADICTED", "not_found": "not in the articles"}


def check(
    text: Annotated[str, typer.Argument(help="The text to check, in quotes (e.g. a chat message).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Check a text against the ingested articles, claim by claim (rule-based, no model needed)."""
    end_quickly()
    from rag.services import build_services

    try:
        result = build_services(load_settings(), chat_model=False).check(text)
    except QuestionError as exc:
        raise fail(str(exc), 2) from None
    except NewsbotError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    for claim in result.claims:
        out.print(f"{LABELS[claim.verdict]}: {claim.text}", highlight=False, markup=False)
        for c in claim.citations:
            out.print(f"  “{c.quote}” — {c.source or 'unknown outlet'}, {c.published or 'undated'}: {c.title}",
                      highlight=False, markup=False)
        if claim.verdict != "supported" and claim.reason:
            out.print(f"  why: {claim.reason}", highlight=False, markup=False)
    if result.note:
        out.print(f"({result.note})", highlight=False, markup=False)
