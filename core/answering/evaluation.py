"""`main.py eval answers`: the responder over the project's fixed execution records.

Reported, over all records:
- `unsupported_rate`: answers with a claim (number, quotation, model id, file name) that neither
  the request nor the record holds, by the checker in `claims.py`, sentence by sentence.
- `draft_unsupported_rate`: the same for the controller's first reply as it wrote it, before the
  check: how often the check had something to stop.
- `failures_reported`: of the records with a task that did not run, the share whose answer names
  every such task with what happened to it.
- `prose_rate`: of the records where something ran, the share whose answer kept controller prose.
- `seconds_per_answer`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.answering.claims import Support, unsupported
from core.answering.facts import failure_lines, support_texts, title
from core.answering.responder import SENTENCE_END, Responder
from core.executor import TaskResult

RECORDS = Path(__file__).with_name("data") / "records.json"
WHAT_HAPPENED = {"failed": ("failed", "could not run"), "skipped": ("skipped",), "cancelled": ("stopped",)}


@dataclass
class AnswerScore:
    kind: str
    request: str
    answer: str
    unsupported: list[str]
    draft_unsupported: list[str]
    failures_named: bool | None  # None when every task ran
    prose: bool
    ran: bool  # some task of the record is done
    seconds: float


@dataclass
class AnswerReport:
    scores: list[AnswerScore] = field(default_factory=list)

    def summary(self) -> dict:
        n = len(self.scores) or 1
        with_failures = [s for s in self.scores if s.failures_named is not None]
        ran = [s for s in self.scores if s.ran]
        return {"n": len(self.scores),
                "unsupported_rate": round(sum(bool(s.unsupported) for s in self.scores) / n, 4),
                "draft_unsupported_rate": round(sum(bool(s.draft_unsupported) for s in self.scores) / n, 4),
                "failures_reported": round(sum(s.failures_named for s in with_failures) / (len(with_failures) or 1), 4),
                "prose_rate": round(sum(s.prose for s in ran) / (len(ran) or 1), 4),
                "seconds_per_answer": round(sum(s.seconds for s in self.scores) / n, 3)}


def load_records(path: Path = RECORDS) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["records"]


def claims_in(text: str, support: Support) -> list[str]:
    return [claim for sentence in SENTENCE_END.split(text) for claim in unsupported(sentence, support)]


def failures_named(answer: str, results: list[TaskResult]) -> bool | None:
    missed = [r for r in results if r.status != "done"]
    if not missed:
        return None
    lines = answer.lower().splitlines()
    return all(any(f"{title(r.task).lower()} (task {r.task_id})" in line
                   and any(word in line for word in WHAT_HAPPENED.get(r.status, (r.status,))) for line in lines)
               for r in missed)


def evaluate_answers(responder: Responder, records: list[dict], limit: int | None = None) -> AnswerReport:
    report = AnswerReport()
    for record in records[:limit]:
        results = [TaskResult.from_dict(r) for r in record["results"]]
        # The catalogue's recommendations are a source too (sizes, licences), beside the record.
        support = Support.of(*support_texts(record["request"], results), *failure_lines(results, responder.recommend),
                             counts=len(results))
        start = time.perf_counter()
        answer = responder.grounded(record["request"], results, on_token=lambda _text: None)
        seconds = time.perf_counter() - start
        draft = answer.drafts[0] if answer.drafts else ""
        report.scores.append(AnswerScore(record.get("kind", ""), record["request"], answer.text,
                                         claims_in(answer.text, support), claims_in(draft, support),
                                         failures_named(answer.text, results), bool(answer.prose),
                                         any(r.status == "done" for r in results), seconds))
    return report
