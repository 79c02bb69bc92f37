"""How well the citation check keeps true claims and rejects false ones, on claims made from a corpus.

Each labelled sentence of an article is a true claim; its passage is the sentence with the three sentences either
side (about one chunk). From it come light paraphrases (still true) and perturbations (false):

| kind | true? | how |
| --- | --- | --- |
| original | yes | the sentence as written |
| clause_dropped | yes | the last comma clause left off |
| said_reported | yes | "said" → "reported" |
| apposition | yes | "Name, the role, …" → "the role Name …" |
| number | no | a number changed (×10 below 100, else +50%) |
| negation | no | "not" added after the first auxiliary, or taken away |
| swap | no | the actor and object names of a verb swapped |
| entity | no | a name replaced by another name from the same article |
| date | no | a date moved a day (else a weekday, else a year) |
| rider | no | an unsupported clause appended (", and …") |

Each claim cites the passage as `[1]` and goes through `rag.answering.citations.check_citations`. A true claim counts as kept
when it is shown whole; a false one as rejected when its changed words are not shown (the claim dropped, or the
changed clause cut). Labels (`tests/data/claim_labels.json`) hold only article URLs, sentence numbers and kinds;
the text is rebuilt from the corpus, so no article text is stored in the project.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rag.answering.citations import check_citations
from rag.answering.claims import names, roles, tokens
from rag.errors import EvalError
from rag.answering.quantities import MONTHS, WEEKDAYS
from rag.schema import Passage
from rag.text import split_sentences

TRUE_KINDS = ("original", "clause_dropped", "said_reported", "apposition")
FALSE_KINDS = ("number", "negation", "swap", "entity", "date", "rider")
TARGETS = {"false_rejected": 0.95, "true_kept": 0.97}
WINDOW = 3  # sentences either side of the claim's sentence in its passage
RIDERS = (
    "officials expect a final decision next month", "{name} is expected to announce the results next week",
    "the plan was approved by a large majority", "the figures were later revised upward",
    "critics have called for an independent inquiry", "shares rose sharply after the announcement",
    "the two sides agreed to meet again in Geneva", "the move was welcomed by most analysts",
)
_AUXILIARY = re.compile(r"\b(is|was|were|are|has|have|had|will|would|can|could|should|may|might|must)\b(?! not)")
_NUMBER = re.compile(r"(?<![\w.,$£€])(\d{1,3}(?:,\d{3})+|\d+)(?![\w,.]*\d)(?!\s*(?:st|nd|rd|th)\b)")
_DATE = re.compile(r"\b(" + "|".join(n.title() for n in MONTHS if len(n) > 3) + r")\.? (\d{1,2})\b")
_WEEKDAY = re.compile(r"\b(" + "|".join(d.title() for d in WEEKDAYS) + r")\b")
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")


@dataclass(frozen=True)
class Claim:
    url: str
    sentence: int
    kind: str
    text: str
    changed: str  # the words a false claim changes or adds (must not be shown); "" for true claims
    passage: Passage

    @property
    def true(self) -> bool:
        return self.kind in TRUE_KINDS


# ---- making claims ------------------------------------------------------------------------------


def variant(kind: str, sentence: str, article: str) -> tuple[str, str] | None:
    """(claim, changed words) of one kind made from `sentence`, or None where that kind can't be made."""
    body = sentence.rstrip()
    if not body.endswith("."):
        return None
    stem = body[:-1]
    if kind == "original":
        return body, ""
    if kind == "clause_dropped":
        head = stem[:stem.rfind(", ")] if ", " in stem else ""
        return (head + ".", "") if len(head.split()) >= 6 and head.count('"') % 2 == 0 else None
    if kind == "said_reported":
        return (re.sub(r"\bsaid\b", "reported", body, count=1), "") if re.search(r"\bsaid\b", body) else None
    if kind == "apposition":
        m = re.search(r"\b([A-Z][a-z]+(?: [A-Z][a-z]+)+), (the|an?) ([a-z][^,]{2,40}?), ", body)
        return (body[:m.start()] + f"{m.group(2)} {m.group(3)} {m.group(1)} " + body[m.end():], "") if m else None
    if kind == "number":
        for m in _NUMBER.finditer(stem):
            value = int(m.group(1).replace(",", ""))
            if _YEAR.fullmatch(m.group(1)) or _DATE.search(stem[max(0, m.start() - 12):m.end()]):
                continue
            new = str(value * 10 if value < 100 else value + value // 2)
            return _replace(body, m.start(1), m.end(1), new)
        return None
    if kind == "negation":
        m = re.search(r"\b(not|never) ", stem)
        if m:
            return body[:m.start()] + body[m.end():], m.group()  # shown without "not": judged by the whole text
        m = _AUXILIARY.search(stem)
        return (body[:m.end()] + " not" + body[m.end():], " not") if m else None
    if kind == "swap":
        return _swap(body, article)
    if kind == "entity":
        return _entity(body, article)
    if kind == "date":
        m = _DATE.search(stem)
        if m:
            day = int(m.group(2))
            return _replace(body, m.start(2), m.end(2), str(day + 1 if day < 28 else day - 1))
        m = _WEEKDAY.search(stem)
        if m:
            days = [d.title() for d in WEEKDAYS]
            return _replace(body, m.start(), m.end(), days[(days.index(m.group()) + 1) % 7])
        m = _YEAR.search(stem)
        return _replace(body, m.start(), m.end(), str(int(m.group()) - 1)) if m else None
    if kind == "rider":
        other = [n for n in _name_surfaces(article) if n not in body]
        rider = RIDERS[_pick(body, len(RIDERS))].format(name=other[0] if other else "the ministry")
        return f"{stem}, and {rider}.", rider
    raise EvalError(f"unknown claim kind {kind!r}")


def _replace(text: str, start: int, end: int, new: str) -> tuple[str, str]:
    return text[:start] + new + text[end:], new


def _pick(text: str, n: int) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16) % n


def _surface(text: str, words: list[str]) -> re.Match | None:
    """Where the name (lowercased words) is written as a name: the first occurrence that starts with a capital
    ("News", not the "news" of an earlier sentence)."""
    pattern = r"\W+".join(re.escape(w) for w in words)
    return next((m for m in re.finditer(rf"\b{pattern}\b", text, re.IGNORECASE) if m.group()[:1].isupper()), None)


def _name_surfaces(article: str) -> list[str]:
    found = []
    for words in names(tokens(article[:4000], article)).values():
        m = _surface(article, words)
        if m and m.group() not in found:
            found.append(m.group())
    return found


def _swap(body: str, article: str) -> tuple[str, str] | None:
    toks = tokens(body, article)
    spans = names(toks)
    by_head = {words[-1]: words for words in spans.values()}
    for actors, objects in roles(toks).values():
        for a in actors:
            for b in objects:
                if a != b and a in by_head and b in by_head:
                    ma, mb = _surface(body, by_head[a]), _surface(body, by_head[b])
                    between = body[ma.end():mb.start()] if ma and mb and ma.end() <= mb.start() else ""
                    if between and len(between.split()) <= 4 and not re.search(r"\bby\b|[,;:()]", between):
                        swapped = (body[:ma.start()] + mb.group() + body[ma.end():mb.start()] + ma.group()
                                   + body[mb.end():])
                        return swapped, f"{mb.group()}{body[ma.end():mb.start()]}{ma.group()}"
    return None


def _entity(body: str, article: str) -> tuple[str, str] | None:
    toks = tokens(body, article)
    mine = [_surface(body, words) for words in names(toks).values()]
    mine = [m for m in mine if m and m.start() > 0 and len(m.group()) > 3]
    if not mine:
        return None
    target = mine[_pick(body, len(mine))]
    heads = {m.group().split()[-1].lower() for m in mine}
    others = [n for n in _name_surfaces(article) if n.split()[-1].lower() not in heads
              and n.lower() not in body.lower() and len(n) > 3]
    if not others:
        return None
    new = others[_pick(target.group(), len(others))]
    return _replace(body, target.start(), target.end(), new)


# ---- labels and scoring -------------------------------------------------------------------------


def candidate_sentences(body: str) -> list[int]:
    """Sentences fit to be claims: 10–50 words, ending in a full stop, not a heading or a list item."""
    spans = split_sentences(body)
    out = []
    for i, (s, e) in enumerate(spans):
        text = body[s:e].strip()
        if 10 <= len(text.split()) <= 50 and text.endswith(".") and text[:1].isupper() and "\n" not in text:
            out.append(i)
    return out


def make_labels(corpus: list[dict], per_article: int = 2) -> list[dict]:
    """Up to `per_article` sentences of each article (chosen by hash), with every kind that can be made."""
    labels = []
    for article in sorted(corpus, key=lambda a: a["url"]):
        body = article["body"]
        spans = split_sentences(body)
        chosen = sorted(candidate_sentences(body), key=lambda i: hashlib.sha1(f"{article['url']}#{i}".encode())
                        .hexdigest())[:per_article]
        for i in sorted(chosen):
            sentence = body[spans[i][0]:spans[i][1]].strip()
            for kind in TRUE_KINDS + FALSE_KINDS:
                if variant(kind, sentence, body):
                    labels.append({"url": article["url"], "sentence": i, "kind": kind})
    return labels


def build_claims(corpus: list[dict], labels: list[dict]) -> list[Claim]:
    """The labelled claims, rebuilt from the corpus; EvalError if a label no longer fits it."""
    by_url = {a["url"]: a for a in corpus}
    claims = []
    for label in labels:
        article = by_url.get(label["url"])
        if article is None:
            raise EvalError(f"claim label names an article the corpus lacks: {label['url']}")
        body = article["body"]
        spans = split_sentences(body)
        i = label["sentence"]
        made = variant(label["kind"], body[spans[i][0]:spans[i][1]].strip(), body) if i < len(spans) else None
        if made is None:
            raise EvalError(f"claim label {label} no longer fits its article")
        lo, hi = max(0, i - WINDOW), min(len(spans), i + WINDOW + 1)
        passage = Passage(n=1, chunk_id=f"{label['url']}#{i}", article_id=label["url"], title=article["title"],
                          source=article.get("source"), published=article.get("published_at"), url=label["url"],
                          text=" ".join(body[s:e].strip() for s, e in spans[lo:hi]))
        claims.append(Claim(label["url"], i, label["kind"], made[0], made[1], passage))
    return claims


def verdict(claim: Claim) -> bool:
    """Whether the check keeps the claim as written (True) or not (dropped, or its changed words cut)."""
    answer = check_citations(f"{claim.text} [1]", [claim.passage], "claim-eval")
    if answer.abstained:
        return False
    shown = re.sub(r"\s*\[\d+\]", "", answer.answer).strip()
    if claim.true or claim.kind == "negation":
        return shown == claim.text
    return claim.changed.strip() in shown


def score(claims: list[Claim]) -> dict:
    """Per kind: how many claims, and the share kept (true kinds) or rejected (false kinds)."""
    total, good = Counter(), Counter()
    for claim in claims:
        kept = verdict(claim)
        total[claim.kind] += 1
        good[claim.kind] += kept if claim.true else not kept
    rows = {kind: {"claims": total[kind], "rate": good[kind] / total[kind] if total[kind] else None,
                   "measure": "kept" if kind in TRUE_KINDS else "rejected"}
            for kind in TRUE_KINDS + FALSE_KINDS}
    for name, kinds in (("true_kept", TRUE_KINDS), ("false_rejected", FALSE_KINDS)):
        n = sum(total[k] for k in kinds)
        rows[name] = {"claims": n, "rate": sum(good[k] for k in kinds) / n if n else None,
                      "measure": "kept" if name == "true_kept" else "rejected"}
    return rows


def load_corpus(path: Path) -> list[dict]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalError(f"corpus {path}: not readable JSON ({exc})") from None


def load_labels(path: Path) -> list[dict]:
    """Labels from `{"sentences": [[url, sentence number, "kind kind …"], …]}`, one label per kind."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return [{"url": str(url), "sentence": int(i), "kind": kind}
                for url, i, kinds in data["sentences"] for kind in str(kinds).split()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EvalError(f'claim labels {path}: expected {{"sentences": [[url, n, "kinds"], …]}} ({exc})') from None


def dump_labels(labels: list[dict]) -> str:
    """`load_labels`' format: one line per sentence."""
    grouped: dict[tuple[str, int], list[str]] = {}
    for label in labels:
        grouped.setdefault((label["url"], label["sentence"]), []).append(label["kind"])
    rows = [json.dumps([url, i, " ".join(kinds)]) for (url, i), kinds in grouped.items()]
    return '{"sentences": [\n' + ",\n".join(rows) + "\n]}\n"


def table(rows: dict) -> list[str]:
    """The figures as aligned text lines."""
    lines = [f"{'kind':16} {'claims':>7} {'measure':>9} {'rate':>7}"]
    for kind, row in rows.items():
        rate = "—" if row["rate"] is None else f"{row['rate']:.1%}"
        lines.append(f"{kind:16} {row['claims']:>7} {row['measure']:>9} {rate:>7}")
    return lines


def run_claim_eval(corpus: Path, labels: Path, limit: int = 0) -> dict:
    """Score the labelled claims (the first `limit`, 0 = all) of `corpus`: `score`'s rows."""
    chosen = load_labels(labels)
    return score(build_claims(load_corpus(corpus), chosen[:limit] if limit else chosen))
