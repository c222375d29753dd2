"""The facts of a turn, written by the product from the execution record, never by a model.

Failures come first, each with its reason in words and, when no installed model can do the task,
the catalogue's model to install. Then each task's result as its model gave it (the runners'
own one-line summaries), and the files it produced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from core.executor import TaskResult
from core.experts import Recommendation
from core.selector import CONTROLLER_MODEL

MAX_VALUE = 600
MEDIA = ("image", "audio", "video")
# Bookkeeping a person does not need in the answer; it stays in the record.
HIDDEN_KEYS = {"device", "dtype", "inference_s", "load_s"}
NO_MODEL = "no installed model can do"

Recommend = Callable[[str], "Recommendation | None"]


def title(task: str) -> str:
    """'sentence-similarity' -> 'Sentence similarity'; 'text-to-image' keeps its hyphens."""
    words = task.replace("-to-", " to ").replace("-", " ").split()
    text = " ".join(words).replace(" to ", "-to-")
    return text[:1].upper() + text[1:]


def failure_lines(results: list[TaskResult], recommend: Recommend | None = None) -> list[str]:
    lines = []
    for result in results:
        if result.status == "done":
            continue
        name = f"{title(result.task)} (task {result.task_id})"
        reason = result.error.rstrip(".") or result.status
        if result.status == "skipped":
            lines.append(f"{name} was skipped: {reason}.")
        elif result.status == "cancelled":
            lines.append(f"{name} was stopped before it finished.")
        elif reason.startswith(NO_MODEL):
            lines.append(f"{name} could not run: {reason.split(';')[0]}." + _install_hint(result.task, recommend))
        else:
            lines.append(f"{name} failed: {reason}.")
    return lines


def _install_hint(task: str, recommend: Recommend | None) -> str:
    entry = recommend(task) if recommend else None
    if entry is None:
        return " Install a model for it in the model manager."
    size = f"{entry.download_bytes / 1e9:.1f} GB" if entry.download_bytes >= 1e9 else \
        f"{max(1, round(entry.download_bytes / 1e6))} MB"
    return (f" Recommended: {entry.id}, {entry.description} ({size}, licence {entry.license or 'not stated'});"
            f" install it with `main.py models download {entry.id}` or from the model manager.")


def fact_lines(results: list[TaskResult]) -> list[str]:
    lines = []
    for result in results:
        if result.status != "done":
            continue
        by = "by the controller" if result.model == CONTROLLER_MODEL else f"by {result.model}" if result.model else ""
        lines.append(f"{title(result.task)}{', ' + by if by else ''}: {describe_outputs(result.outputs)}")
    return lines


def describe_outputs(outputs: dict) -> str:
    shown = {k: v for k, v in outputs.items() if k not in HIDDEN_KEYS}
    if "text" in shown:  # the runner's own summary already carries its scores and labels
        shown = {k: v for k, v in shown.items() if k == "text" or k in MEDIA}
    parts = []
    for key, value in shown.items():
        if key in MEDIA:
            parts.append(f"{key} {Path(str(value)).name}")
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."
        parts.append(text if key == "text" else f"{key}: {text}")
    return "; ".join(parts) or "(no output)"


def describe_result(result: TaskResult) -> str:
    """One line per task for the planner's view of earlier turns and the controller's record."""
    head = result.task + (f" with {result.model}" if result.model else "")
    if result.status != "done":
        return f"{head}: {result.status.upper()} - {result.error}"
    return f"{head}: {describe_outputs(result.outputs)}"


def support_texts(request: str, results: list[TaskResult]) -> list[str]:
    """Everything an answer may quote: the request and the whole record, as text."""
    texts = [request]
    for result in results:
        texts += [result.task, result.model, result.error, describe_result(result),
                  json.dumps(result.inputs, ensure_ascii=False), json.dumps(result.outputs, ensure_ascii=False)]
        texts += [Path(str(v)).name for k, v in result.outputs.items() if k in MEDIA]
    return texts
