"""The retrieval chain: question → passages → prompt → model → checked citations → `Answer`."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from prompts.loader import load_prompt
from rag.articles.article import parse_date
from rag.errors import QuestionError
from rag.answering.offline import check_part_reply, is_part_reply
from rag.answering.models import NOT_SURE, OFFLINE_LABEL, STUB_MODEL_NAME, model_name
from rag.answering.parts import retrieve_by_parts
from rag.schema import Answer, Citation, Passage
from rag.text import date_to_int
from rag.answering.claims import MIN_CLAUSE_SUPPORT, MIN_SUPPORT, judge, passage_sentences, split_clauses
from rag.text import coverage, idf_table, split_sentences, terms

_MARKERS = re.compile(r"\s?\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_MARKER_RUN = re.compile(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")
MIN_ATTRIBUTION = 0.5  # stricter, for unmarked sentences we attribute ourselves
LEAK_WORDS = 6  # a reply sentence sharing this many consecutive words with the system prompt repeats it

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Query:
    """A question with its optional filters (dates as YYYYMMDD ints, see `query_day`) and the libraries it may
    read (empty: the store's default scope)."""

    question: str
    since: int | None = None
    until: int | None = None
    source: str | None = None
    k: int | None = None
    libraries: tuple[str, ...] = ()


def query_day(value: str) -> int:
    """A date filter as `Query` wants it (ISO `2025-09-30` and the other forms articles use); ValueError if none."""
    return date_to_int(parse_date(value))


def validate_question(question: str, max_chars: int) -> str:
    """Strip and check a question; raise QuestionError with the reason shown to the user."""
    question = (question or "").strip()
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > max_chars:
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {max_chars}")
    return question


def format_passages(passages: list[Passage]) -> str:
    """Numbered passages for the prompt; tag-like text inside a passage is defused so it can't close the tag."""
    blocks = []
    for p in passages:
        text = re.sub(r"</?\s*(doc|passages|question)\b", lambda m: m.group().replace("<", "‹"), p.text,
                      flags=re.IGNORECASE)
        attrs = f"title={_attr(p.title)} source={_attr(p.source or 'unknown')} date={_attr(p.published or 'unknown')}"
        blocks.append(f"<doc id='{p.n}' {attrs}>\n{text}\n</doc>")
    return "\n".join(blocks)


def _attr(value: str) -> str:
    return "'" + value.replace("'", "’").replace(">", "›").replace("<", "‹") + "'"


def build_answer_chain(retriever: BaseRetriever, llm: Runnable, prompt_name: str = "answer",
                       today: date | None = None) -> Runnable[Query, Answer]:
    """`create_chain(llm, retriever)`-style: Query → retrieved passages → prompt → llm → checked Answer."""
    prompt = load_prompt(prompt_name)
    system = system_text(prompt)

    def retrieve(query: Query) -> list[Passage]:
        updates: dict[str, Any] = {k: v for k, v in (("since", query.since), ("until", query.until),
                                                      ("source", query.source), ("k", query.k),
                                                      ("libraries", tuple(query.libraries))) if v}
        bound = retriever.model_copy(update=updates) if updates else retriever
        docs = retrieve_by_parts(bound, query.question)  # the question's passages, then each part's own
        return [Passage.from_document(i, d) for i, d in enumerate(docs, start=1)]

    def generate(state: dict) -> BaseMessage | None:
        if not state["passages"]:
            return None  # nothing retrieved: abstain without asking the model
        return (prompt | llm).invoke({
            "question": state["query"].question, "passages": format_passages(state["passages"]),
            "not_sure": NOT_SURE, "today": (today or date.today()).isoformat(),
        })

    def finish(state: dict) -> Answer:
        reply = state["reply"]
        if reply is None:
            return Answer(answer=NOT_SURE, abstained=True, model="none")
        text = strip_prompt_leaks(str(reply.content), system)
        if model_name(reply) == STUB_MODEL_NAME and is_part_reply(text):  # the offline answer, part by part:
            # checked the same way, then regrouped
            return check_part_reply(text, state["passages"], model_name(reply), check_citations)
        return check_citations(text, state["passages"], model_name(reply))

    return (
        RunnableLambda(lambda q: {"query": q if isinstance(q, Query) else Query(str(q))})
        | RunnablePassthrough.assign(passages=RunnableLambda(lambda s: retrieve(s["query"])))
        | RunnablePassthrough.assign(reply=RunnableLambda(generate))
        | RunnableLambda(finish)
    ).with_config(run_name="newsbot_answer")


def system_text(prompt) -> str:
    """The prompt's system message(s), with the variables blank (the not-sure reply may be repeated)."""
    blanks = dict.fromkeys(prompt.input_variables, "")
    return "\n".join(str(m.content) for m in prompt.format_messages(**blanks) if m.type == "system")


def strip_prompt_leaks(reply: str, system: str, n: int = LEAK_WORDS) -> str:
    """Drop each reply sentence that repeats `n` consecutive words of the system prompt (an obeyed injection)."""
    spans, whole = _word_ngrams(system, n), f" {' '.join(_words(system))} "
    sentences = split_sentences(reply)
    leaks = {i for i, (s, e) in enumerate(sentences) if _word_ngrams(reply[s:e], n) & spans
             or (len(_words(reply[s:e])) >= 4 and f" {' '.join(_words(reply[s:e]))} " in whole)}  # a short rule
    if not leaks:
        return reply
    logger.warning("dropped %d reply sentence(s) that repeated the system prompt", len(leaks))
    ends = [s for s, _ in sentences[1:]] + [len(reply)]  # each sentence with the space after it
    kept = "".join(reply[s:end] for i, ((s, _), end) in enumerate(zip(sentences, ends)) if i not in leaks)
    return (reply[:sentences[0][0]] + kept).strip()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def check_citations(reply: str, passages: list[Passage], model: str) -> Answer:
    """Keep only `[n]` that point at a retrieved passage which supports the claim; renumber; attach quotes.

    Each reply sentence is one claim, judged clause by clause by `rag.answering.claims.judge` (words, numbers, dates,
    negation, names, who did what to whom): a later clause no cited passage supports is cut, a claim whose main
    clause none supports is dropped (each logged at DEBUG with its reason). A reply with no markers at all has its
    sentences attributed to passages here. If nothing checkable is left the answer abstains. Sources that were
    not checked are never shown.
    """
    offline = model == STUB_MODEL_NAME
    body = reply.replace(OFFLINE_LABEL, "").strip()
    if not body or _is_not_sure(body):
        return Answer(answer=NOT_SURE, abstained=True, model=model, offline=offline)
    by_n = {p.n: p for p in passages}
    sentences = {p.n: passage_sentences(p.text) for p in passages}
    idf = idf_table(t for sents in sentences.values() for _, t in sents)
    has_markers = bool(_MARKERS.search(body))
    kept_claims: list[tuple[str, list[int]]] = []
    quotes: dict[int, tuple[float, str]] = {}
    for text, wanted in split_claims(body):
        if not has_markers:
            wanted = [n for n in by_n if _best(terms(text), sentences[n], idf)[0] >= MIN_ATTRIBUTION][:1]
        wanted = [n for n in dict.fromkeys(wanted) if n in by_n]  # an invented number: removed, never shown
        kept, supported = _checked_clauses(text, [by_n[n] for n in wanted], sentences, idf, quotes)
        if kept:
            kept_claims.append((kept, supported))
    if not kept_claims:
        return Answer(answer=NOT_SURE, abstained=True, model=model, offline=offline)
    renumber: dict[int, int] = {}
    for _, ns in kept_claims:
        for n in ns:
            renumber.setdefault(n, len(renumber) + 1)
    lines = [text + " " + "".join(f"[{renumber[n]}]" for n in ns) for text, ns in kept_claims]
    answer = ("\n" if offline else " ").join(lines)
    if offline:
        answer = OFFLINE_LABEL + "\n" + answer
    citations = [_citation(new, by_n[old], quotes[old][1]) for old, new in renumber.items()]
    return Answer(answer=answer, abstained=False, model=model, citations=citations, offline=offline)


def _checked_clauses(text: str, cited: list[Passage], sentences: dict[int, list[tuple[str, set[str]]]],
                     idf: dict[str, float], quotes: dict[int, tuple[float, str]]) -> tuple[str, list[int]]:
    """The claim with the clauses its cited passages support ("" if its main clause has none), and who supports it.

    A claim that is word for word a whole sentence of a passage it cites says what that passage says: it is kept
    whole with that passage (the clause rules, made for paraphrase, can misread a long sentence quoted in full:
    "…suspended coach Jim Harbaugh…, and … will be without him" is not a negated "coach"), and that sentence is the
    passage's quote unless an earlier claim's is (an offline answer's citation shows the first line it quoted)."""
    words = _words(text)  # "word for word" ignores punctuation, spacing and case
    verbatim: dict[int, str] = {}  # passage → its sentence the claim is
    for p in cited:
        same = next((s for s, _ in sentences[p.n] if _words(s) == words), None) if words else None
        if same is not None:
            verbatim[p.n] = same
    if not verbatim:
        return _judged_clauses(text, cited, sentences, idf, quotes)
    for n, same in verbatim.items():
        if quotes.get(n, (-1.0, ""))[0] < 1.0:
            quotes[n] = (1.0, same)
    others = [p for p in cited if p.n not in verbatim]
    _, more = _judged_clauses(text, others, sentences, idf, quotes) if others else ("", [])
    return text, [*verbatim, *more]


def _judged_clauses(text: str, cited: list[Passage], sentences: dict[int, list[tuple[str, set[str]]]],
                    idf: dict[str, float], quotes: dict[int, tuple[float, str]]) -> tuple[str, list[int]]:
    """`_checked_clauses` clause by clause, with `rag.answering.claims.judge`."""
    kept, supported = [], []
    for i, (separator, clause) in enumerate(split_clauses(text)):
        threshold = MIN_SUPPORT if i == 0 else MIN_CLAUSE_SUPPORT
        reasons, backers = [], []
        for p in cited:
            verdict = judge(clause, sentences[p.n], idf, p.text, p.title, threshold, text)
            if verdict.supported:
                backers.append(p.n)
                best = quotes.get(p.n, (-1.0, ""))  # the best-supported quote; of equals, the shortest
                if (verdict.score, -len(verdict.quote)) > (best[0], -len(best[1])):
                    quotes[p.n] = (verdict.score, verdict.quote)
            else:
                reasons.append(f"[{p.n}] {verdict.reason}")
        if not backers:
            logger.debug("%s %r: %s", "dropped claim" if i == 0 else "cut clause", clause.strip(),
                         "; ".join(reasons) or "cites no retrieved passage")
            if i == 0:
                return "", []
            continue
        kept.append(separator + clause)
        supported += [n for n in backers if n not in supported]
    claim = "".join(kept).rstrip(" ,;:—–")
    if claim != text.rstrip(" ,;:—–") and text.rstrip()[-1:] in ".!?" and claim[-1:] not in ".!?":
        claim += text.rstrip()[-1]
    return claim, supported


def split_claims(body: str) -> list[tuple[str, list[int]]]:
    """Claims (one a sentence) with the passage numbers cited right after them; unmarked text is split into
    sentences. Each sentence before a marker carries that marker: none rides on a neighbour's."""
    claims: list[tuple[str, list[int]]] = []
    cursor = 0
    for match in _MARKER_RUN.finditer(body):
        text = body[cursor:match.start()].strip().lstrip(".,;:!?").strip()
        numbers = [int(n) for n in re.findall(r"\d+", match.group())]
        cursor = match.end()
        trailing = re.match(r"[.,;:!?]+", body[cursor:])
        if trailing:
            text += trailing.group()
            cursor += trailing.end()
        if text:
            claims += [(sentence, list(numbers)) for sentence in _sentences(text)]
        elif claims:  # "[1] [2]" split by a space: both belong to the claim before
            claims[-1][1].extend(numbers)
    claims += [(sentence, []) for sentence in _sentences(body[cursor:])]
    return claims


def _sentences(text: str) -> list[str]:
    spans = (text[s:e].strip() for s, e in split_sentences(text))
    return [s for s in spans if s.lstrip(".,;:!?").strip()]


def _best(claim_terms: list[str], sents: list[tuple[str, set[str]]], idf: dict[str, float]) -> tuple[float, str]:
    best = (0.0, "")
    for sentence, sentence_terms in sents:
        score = coverage(claim_terms, sentence_terms, idf)
        if score > best[0]:
            best = (score, sentence)
    return best


def _is_not_sure(body: str) -> bool:
    squashed = re.sub(r"\W+", " ", body.lower()).strip()
    return squashed.startswith(re.sub(r"\W+", " ", NOT_SURE.lower()).strip()[:30])


def _citation(n: int, passage: Passage, quote: str) -> Citation:
    return Citation(n=n, article_id=passage.article_id, title=passage.title, source=passage.source,
                    published=passage.published, url=passage.url, quote=quote)
