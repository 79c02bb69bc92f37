"""Briefings: a window of days -> stories grouped across outlets, each with a checked summary.

- `build.py`: the briefing (stories, summaries, sources); `stories.py`: which articles are one story;
  `corroborate.py`: which outlets back each claim; `text.py`: a briefing as lines of text.
- `dates.py`: the days a briefing covers, parsed (each front end names its own option in errors);
  `schedule.py`: the daily post's schedule and its store.
"""
