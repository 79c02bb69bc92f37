"""A `Briefing` as plain text lines (the CLI's), and the wording the Discord render shares with it."""

from __future__ import annotations

from rag.briefing.build import Briefing, Story
from rag.briefing.corroborate import Claim
from rag.text import plural

OUTLETS_NAMED = 5  # outlets named after a claim; more are counted


def reported_by(count: int, names: list[str | None]) -> str:
    """`reported by 2 outlets: A, B` (known names only, cut after OUTLETS_NAMED)."""
    names = [n for n in names if n]
    shown = ", ".join(names[:OUTLETS_NAMED]) + (", …" if len(names) > OUTLETS_NAMED else "")
    return f"reported by {plural(count, 'outlet')}" + (f": {shown}" if shown else "")


def claim_line(claim: Claim) -> str:
    """The claim with its [n] markers, and who reports it when that is two outlets or more."""
    line = claim.text + (" " + "".join(f"[{n}]" for n in claim.citations) if claim.citations else "")
    if len(claim.outlets) >= 2:
        line += f" ({reported_by(len(claim.outlets), claim.outlets)})"
    return line


def story_dates(story: Story) -> str:
    """'' for a story of one day; 'YYYY-MM-DD to YYYY-MM-DD' for one reported over several days."""
    return f"{story.first} to {story.latest}" if story.first and story.first != story.latest else ""


def heading(briefing: Briefing) -> str:
    note = " (offline extractive summaries: sentences quoted from the articles)" if briefing.offline else ""
    return (f"Briefing for {briefing.label}: {plural(len(briefing.stories), 'story')} from "
            f"{plural(briefing.articles, 'article')}{note}")


def briefing_lines(briefing: Briefing) -> list[str]:
    """A heading, then each story: headline, outlets (and days), one line per claim, the cited sources."""
    if not briefing.stories:
        return [f"No articles for {briefing.label}."]
    lines = [heading(briefing)]
    for i, story in enumerate(briefing.stories, start=1):
        days = story_dates(story)
        lines += ["", f"{i}. {story.headline} ({reported_by(story.outlets, [])}" + (f"; {days})" if days else ")")]
        lines += [f"- {claim_line(c)}" for c in story.claims] or [story.summary]
        for c in story.citations:
            meta = ", ".join(x for x in (c.source, c.published) if x)
            lines.append(f"  [{c.n}] {c.title}" + (f" ({meta})" if meta else "") + (f" {c.url}" if c.url else ""))
        cited = {c.article_id for c in story.citations}
        lines += [f"  also: {s.title} ({s.source or 'unknown outlet'}, {s.published or 'undated'})"
                  for s in story.sources if s.article_id not in cited]
    if briefing.omitted:
        lines += ["", f"…and {plural(briefing.omitted, 'more story', 'more stories')} (--max-stories)."]
    return lines
