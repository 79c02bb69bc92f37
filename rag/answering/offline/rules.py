"""How strict the offline extractive answerer is: its thresholds and quote limits, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass

MAX_QUOTES = 4


@dataclass(frozen=True)
class ExtractiveRules:
    """How strict the offline answerer is: the stub model's one settings object (`ExtractiveStubModel.rules`)."""

    min_coverage: float = 0.25  # of a part's weighted terms, by the sentence plus its article's title
    min_sentence_coverage: float = 0.2  # by the sentence alone, so a good title can't carry an off-topic line
    min_terms: int = 2  # distinct terms of a part (or clause) of 3 or more that a sentence must hold
    absent_weight: float = 0.25  # weight of a part's word that no passage holds, against the usual idf
    min_anchor: float = 0.14  # of its part's words at full weight, held by at least one quote of the answer
    max_single: int = MAX_QUOTES  # quotes for a question of one part
    max_quotes: int = MAX_QUOTES  # quotes for a question of several parts
    max_per_part: int = 4  # quotes for one part of several (still at most max_quotes in all; dev: +0.4 pt)
    strict_dates: bool = False  # a part's date window excludes passages outside it (else it only ranks)
    by_clause: bool = True  # a sentence may answer one clause of a part ("…, runs promotions, and is expected …")
