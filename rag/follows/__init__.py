"""Follows (issue #28): a member or a channel follows a topic, and new articles on it are alerted, once per story.

- `topic.py`: a follow's topic text -> `Topic` (plain words, `"exact phrases"`, `-exclusions`), with its limits.
- `match.py`: `Matcher`: does an article match a topic? Meaning (embeddings) and words together, on knobs
  calibrated on tests/data/follow_labels.json (`newsbot eval follows`).
"""
