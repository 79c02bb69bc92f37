"""`newsbot eval check`: the message check's verdicts against hand labels (tests/data/check_labels.json).

Each label is a claim as a person would type it in chat, with the verdict the dev corpus gives it (supported,
contradicted, not_found). The claim is retrieved for and judged as `Services.check` does, over the corpus's eval
store (built as by `eval multihop-rag`, reused later). Targets: accuracy >= 0.85, and at most 3 % of the
contradicted or uncovered claims called supported.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag.answering.check import VERDICTS, check_claim, embedder
from rag.config import Settings
from rag.errors import EvalError
from rag.eval.labels import label_list

TARGETS = {"accuracy": 0.85, "false_supported": 0.03}


@dataclass
class CheckEval:
    rows: list[dict]  # {"claim", "label", "verdict", "reason"}
    confusion: dict[str, dict[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = {label: {v: sum(r["label"] == label and r["verdict"] == v for r in self.rows)
                                  for v in VERDICTS} for label in VERDICTS}

    @property
    def accuracy(self) -> float:
        return sum(r["label"] == r["verdict"] for r in self.rows) / len(self.rows)

    @property
    def false_supported(self) -> float:
        """Share of the claims labelled contradicted or not_found that were called supported."""
        wrong = [r for r in self.rows if r["label"] != "supported"]
        return sum(r["verdict"] == "supported" for r in wrong) / len(wrong) if wrong else 0.0

    def halves(self) -> dict[str, CheckEval]:
        """The labels at even and at odd places apart, for a file tuned on in part (the first rounds of rules
        were tuned on check_labels.json's even half only; later ones on whole files, docs/benchmarks.md)."""
        return {"even": CheckEval(self.rows[0::2]), "odd": CheckEval(self.rows[1::2])}

    @property
    def p50_seconds(self) -> float:
        """Median time to retrieve for and judge one claim."""
        return statistics.median(r.get("seconds", 0.0) for r in self.rows) if self.rows else 0.0

    def to_dict(self) -> dict:
        return {"n": len(self.rows), "accuracy": round(self.accuracy, 4),
                "false_supported": round(self.false_supported, 4), "confusion": self.confusion,
                "halves": {name: {"n": len(h.rows), "accuracy": round(h.accuracy, 4),
                                  "false_supported": round(h.false_supported, 4)}
                           for name, h in self.halves().items()} if len(self.rows) > 1 else {},
                "p50_seconds_per_claim": round(self.p50_seconds, 3), "targets": TARGETS, "rows": self.rows}


def load_labels(path: Path) -> list[dict]:
    rows = label_list(path, "claims")
    for i, r in enumerate(rows, start=1):
        if not (isinstance(r, dict) and isinstance(r.get("claim"), str) and r.get("label") in VERDICTS):
            raise EvalError(f"labels file {path}: claim {i} needs a claim string and a label of "
                            + ", ".join(VERDICTS))
    return rows


def run_check_eval(settings: Settings, labels: Path, corpus: Path) -> CheckEval:
    from rag.eval.retrieval import open_eval_store
    from rag.retrieval.retriever import NewsRetriever
    from rag.schema import Passage

    rows = load_labels(labels)
    index = open_eval_store(settings, corpus)
    retriever, embed = NewsRetriever(index=index, k=settings.top_k), embedder(index.embeddings)
    out = []
    for r in rows:
        started = time.perf_counter()
        passages = [Passage.from_document(i, d) for i, d in enumerate(retriever.invoke(r["claim"]), start=1)]
        result = check_claim(r["claim"], passages, embed)
        out.append({"claim": r["claim"], "label": r["label"], "verdict": result.verdict, "reason": result.reason,
                    "seconds": round(time.perf_counter() - started, 3)})
    return CheckEval(out)


def table(result: CheckEval) -> list[str]:
    lines = ["label \\ verdict".ljust(16) + "".join(v.rjust(14) for v in VERDICTS)]
    for label in VERDICTS:
        lines.append(label.ljust(16) + "".join(f"{result.confusion[label][v]:14d}" for v in VERDICTS))
    lines.append(f"accuracy {result.accuracy:.3f} (target >= {TARGETS['accuracy']}), contradicted or uncovered "
                 f"called supported {result.false_supported:.1%} (target <= {TARGETS['false_supported']:.0%}), "
                 f"{len(result.rows)} claims")
    for name, half in result.halves().items():
        lines.append(f"  {name} half: accuracy {half.accuracy:.3f}, called supported {half.false_supported:.1%}, "
                     f"{len(half.rows)} claims")
    lines.append(f"p50 {result.p50_seconds * 1000:.0f} ms per claim (retrieval and check)")
    return lines
