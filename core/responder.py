"""Stage 4, response generation: the controller answers from the execution record, streamed."""

from __future__ import annotations

import json
from typing import Callable

from common.cancel import CancelToken
from core.executor import TaskResult
from core.llm.controller import Controller
from core.templates import template

MAX_VALUE = 600
# Bookkeeping the answer should not dwell on; it stays in the record.
HIDDEN_KEYS = {"device", "dtype", "inference_s", "load_s"}


def describe_result(result: TaskResult) -> str:
    """One line per task, with the values a person would want quoted back."""
    head = result.task
    if result.model:
        head += f" with {result.model}"
    if result.status != "done":
        return f"{head}: {result.status.upper()} - {result.error}"
    outputs = {k: v for k, v in result.outputs.items() if k not in HIDDEN_KEYS}
    if "text" in outputs:  # the runner's own summary already carries its scores and labels
        outputs = {k: v for k, v in outputs.items() if k in ("text", "image", "audio", "video")}
    shown = {}
    for key, value in outputs.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        shown[key] = text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."
    parts = [v if k == "text" else f"{k} file {v}" if k in ("image", "audio", "video") else f"{k}: {v}"
             for k, v in shown.items()]
    return f"{head}: " + "; ".join(parts)


class Responder:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def answer(self, request: str, results: list[TaskResult], on_token: Callable[[str], None],
               cancel: CancelToken | None = None, max_tokens: int = 300) -> str:
        record = "\n".join("- " + describe_result(r) for r in results) or "no tasks were run"
        # Small controllers quote results far more faithfully when the record is their own
        # earlier turn than when it is pasted into the user's message.
        messages = [
            {"role": "system", "content": template("response").substitute()},
            {"role": "user", "content": request},
            {"role": "assistant", "content": "I ran these models for your request:\n" + record},
            {"role": "user", "content": template("response_ask").substitute()},
        ]
        return self.controller.chat(messages, max_tokens=max_tokens, on_token=on_token, cancel=cancel).text.strip()
