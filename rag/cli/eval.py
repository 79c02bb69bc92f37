"""`newsbot eval …`: retrieval, story grouping, the citation check and follow matching, measured (rag/eval/)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from rag.cli.common import fail, load_settings, out, progress_bar
from rag.errors import NewsbotError

logger = logging.getLogger(__name__)
eval_app = typer.Typer(no_args_is_help=True, help="Measure retrieval quality on a benchmark.")
T = TypeVar("T")


def show(what: str, run: Callable[[], T], as_json: bool, to_json: Callable[[T], object],
         table: Callable[[T], list[str]]) -> None:
    """Run one evaluation and print it: JSON with --json, else its table; a NewsbotError is one line and exit 1."""
    try:
        result = run()
    except NewsbotError as exc:
        logger.exception("eval %s failed", what)
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(to_json(result)))
        return
    for line in table(result):
        out.print(line, highlight=False, markup=False)


@eval_app.command("multihop-rag")
def eval_multihop(
    corpus: Annotated[Path, typer.Option(help="MultiHop-RAG corpus.json.", exists=True, dir_okay=False)],
    queries: Annotated[Path, typer.Option(help="Queries json (e.g. queries_dev.json).", exists=True,
                                          dir_okay=False)],
    chunk_tokens: Annotated[int, typer.Option("--chunk-tokens", min=32, max=512, help="Chunk size.")] = 256,
    retriever: Annotated[str, typer.Option(help="hybrid, dense, bm25 or rrf.")] = "hybrid",
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N scored queries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
) -> None:
    """Hits@4/10, MRR@10 and MAP@10 of the retriever on MultiHop-RAG (upstream's scorer; null_query skipped)."""
    from rag.eval.retrieval import METRICS, run_eval

    if retriever not in ("hybrid", "dense", "bm25", "rrf"):
        raise fail(f"--retriever {retriever!r}: use hybrid, dense, bm25 or rrf", 2)
    try:
        with progress_bar("{task.description}") as progress:
            tasks: dict[str, int] = {}

            def step(name: str):
                def update(done: int, total: int) -> None:
                    if name not in tasks:
                        tasks[name] = progress.add_task(name, total=total)
                    progress.update(tasks[name], completed=done, total=total)
                return update

            result = run_eval(load_settings(), corpus, queries, chunk_tokens, retriever, limit,
                              on_ingest=step("ingesting"), on_query=step("retrieving"))
    except NewsbotError as exc:
        logger.exception("eval failed")
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    out.print(f"{retriever}, {chunk_tokens}-token chunks, {result.n} queries", highlight=False)
    out.print("type".ljust(22) + "".join(m.rjust(9) for m in METRICS) + "n".rjust(6), highlight=False)
    for name, row in [("all", {**result.overall, "n": result.n}), *result.by_type.items()]:
        out.print(name.ljust(22) + "".join(f"{row[m]:9.3f}" for m in METRICS) + f"{row['n']:6d}", highlight=False)


@eval_app.command("stories")
def eval_stories(
    labels: Annotated[Path, typer.Option(help="Story labels (tests/data/story_labels.json).", exists=True,
                                         dir_okay=False)],
    corpus: Annotated[Path | None, typer.Option(help="Use this corpus's eval store (built as by eval "
                                                     "multihop-rag) instead of the main store.", exists=True,
                                                dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """B-cubed and pairwise precision/recall/F1 of the briefings' story grouping against hand-made labels."""
    from rag.config import Settings
    from rag.eval.stories import run_story_eval, table

    show("stories", lambda: run_story_eval(Settings(), labels, corpus), as_json, lambda r: r.to_dict(), table)


@eval_app.command("claims")
def eval_claims(
    corpus: Annotated[Path, typer.Option(help="The corpus the labels were made from (MultiHop-RAG corpus.json).",
                                         exists=True, dir_okay=False)],
    labels: Annotated[Path, typer.Option(help="Claim labels (tests/data/claim_labels.json).", exists=True,
                                         dir_okay=False)],
    limit: Annotated[int, typer.Option(min=0, help="Score only the first N labels (0 = all).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """The citation check on true and perturbed corpus claims: share kept / rejected per kind."""
    from rag.eval.claims import TARGETS, run_claim_eval, table

    show("claims", lambda: run_claim_eval(corpus, labels, limit), as_json,
         lambda rows: {"rows": rows, "targets": TARGETS}, table)


@eval_app.command("follows")
def eval_follows(
    labels: Annotated[Path, typer.Option(help="Follow labels (tests/data/follow_labels.json).", exists=True,
                                         dir_okay=False)],
    corpus: Annotated[Path, typer.Option(help="The corpus the labels were made from (MultiHop-RAG corpus.json).",
                                         exists=True, dir_okay=False)] = Path("../shared/eval/multihop-rag/corpus.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Precision and recall of follow matching per labelled topic and overall (micro)."""
    from rag.eval.follows import run_follow_eval, table

    show("follows", lambda: run_follow_eval(load_settings(), labels, corpus), as_json, lambda r: r.to_dict(), table)


@eval_app.command("check")
def eval_check(
    labels: Annotated[Path, typer.Option(help="Check labels (tests/data/check_labels.json).", exists=True,
                                         dir_okay=False)],
    corpus: Annotated[Path, typer.Option(help="The corpus the labels were made from (MultiHop-RAG corpus.json).",
                                         exists=True, dir_okay=False)] = Path("../shared/eval/multihop-rag/corpus.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Accuracy of the message check's verdicts (supported / contradicted / not_found) against hand labels."""
    from rag.eval.check import run_check_eval, table

    show("check", lambda: run_check_eval(load_settings(), labels, corpus), as_json, lambda r: r.to_dict(), table)
