"""The part-by-part reply's layout: the lines the offline answerer writes (a note, `Part n:` headings, not-found
lines), and its checked lines put back under their parts (`check_part_reply`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.schema import Answer, Passage
from rag.text import MARKER_RUN_RE

NOT_FOUND = "Not found in the articles: “{part}”"
PARTS_NOTE = "Answered part by part ({count} parts); each quote is from the articles."
YES_NO_NOTE = "Not answered yes or no: compare the quoted evidence for each part."
_PART_HEAD = re.compile(r"^Part (\d+): (.*)$")
_NOT_FOUND_HEAD = NOT_FOUND.split("“")[0]


def is_part_reply(reply: str) -> bool:
    """Whether a reply is the stub's part-by-part answer (it then goes through `check_part_reply`)."""
    return any(line.startswith(PARTS_NOTE.split("(")[0]) for line in reply.splitlines())


def check_part_reply(reply: str, passages: list[Passage], model: str,
                     check: Callable[[str, list[Passage], str], Answer]) -> Answer:
    """Check a part-by-part reply's quoted lines with `check` (the chain's citation check), then put each checked
    line back under its part; a part whose lines were all dropped says it was not found."""
    blocks: list[tuple[str, list[str]]] = []  # (heading or not-found line, its quoted lines)
    notes: list[str] = []
    label = ""
    for line in (raw.strip() for raw in reply.splitlines()):
        if not line:
            continue
        if line.startswith(PARTS_NOTE.split("(")[0]) or line == YES_NO_NOTE:
            notes.append(line)
        elif _PART_HEAD.match(line) or line.startswith(_NOT_FOUND_HEAD):
            blocks.append((line, []))
        elif blocks:
            blocks[-1][1].append(line)
        else:
            label = line  # the offline label before the first part
    claims = [line for _, lines in blocks for line in lines]
    checked = check("\n".join([label, *claims]) if label else "\n".join(claims), passages, model)
    if checked.abstained:
        return checked
    kept = [line for line in checked.answer.splitlines() if line.strip() and line.strip() != label]
    placed = _place(kept, blocks)
    lines = [label] if label else []
    lines += [notes[0]] if notes else []
    for (head, _), got in zip(blocks, placed):
        match = _PART_HEAD.match(head)
        if match and got:
            lines += [head, *got]
        elif match:
            lines.append(NOT_FOUND.format(part=match.group(2)))
        else:
            lines.append(head)
    lines += notes[1:]
    checked.answer = "\n".join(lines)
    return checked


def _place(kept: list[str], blocks: list[tuple[str, list[str]]]) -> list[list[str]]:
    """Each checked line under the block whose quoted line it is (in order; an unrecognised one stays with the
    last block placed)."""
    owners = [(i, _bare(line)) for i, (_, lines) in enumerate(blocks) for line in lines]
    placed: list[list[str]] = [[] for _ in blocks]
    cursor, last = 0, max((i for i, (_, lines) in enumerate(blocks) if lines), default=0)
    for line in kept:
        bare = _bare(line)
        for j in range(cursor, len(owners)):
            owner, text = owners[j]
            if bare and (bare == text or bare in text or text in bare):
                cursor, last = j + 1, owner
                break
        placed[last].append(line)
    return placed


def _bare(line: str) -> str:
    return MARKER_RUN_RE.sub("", line).strip()
