"""Test doubles for scheduling and parsing tests. Tests of the real stack use the real controller."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from core.history.recorder import TurnRecorder
from core.llm.controller import ChatResult


class ScriptedController:
    """Answers each chat with the next scripted reply (a dict/list becomes JSON)."""

    name = "scripted"

    def __init__(self, *replies):
        self.replies = list(replies)
        self.calls: list[list[dict]] = []

    def chat(self, messages, *, schema=None, max_tokens=512, on_token=None, cancel=None, stage="general"):
        if stage == "steps" and not (self.replies and isinstance(self.replies[0], dict) and "steps" in self.replies[0]):
            # Scripts without a step list: decline, and the planner plans without listed steps.
            return ChatResult("", "stop")
        self.calls.append(messages)
        if cancel is not None:
            cancel.raise_if_cancelled()
        reply = self.replies.pop(0) if self.replies else "ok"
        text = reply if isinstance(reply, str) else json.dumps(reply)
        if on_token:
            on_token(text)
        return ChatResult(text, "stop")


@dataclass
class FakeModel:
    id: str
    task: str
    description: str = ""
    size_bytes: int = 1


class FakeExperts:
    """An expert provider whose 'models' are Python functions: fn(inputs, cancel) -> outputs."""

    def __init__(self, **functions):
        self.functions = functions  # task name (with - replaced by _) -> function
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def candidates(self, task):
        key = task.replace("-", "_")
        return [FakeModel(f"fake/{task}", task)] if key in self.functions else []

    def run(self, model_id, task, inputs, workdir, cancel):
        with self.lock:
            self.log.append(("start", task))
        outputs = self.functions[task.replace("-", "_")](inputs, cancel)
        with self.lock:
            self.log.append(("end", task))
        return outputs


def recorded(engine, store):
    """`store`, recording `engine`'s turns as the app's wiring does."""
    engine.bus.subscribe(TurnRecorder(store))
    return store
