"""Soak: 50 turns of one conversation through the real Engine and a real SQLite store.

The controller and the experts are fakes (fixed small plans, functions for models) so that what
is measured is the engine, executor, event bus and store: memory must stay flat and every turn
must be saved and load again from a fresh store.
"""

from __future__ import annotations

import gc
import json
import time

import psutil

from core.engine import Engine
from core.history.store import ConversationStore
from core.llm.controller import ChatResult
from tests.fakes import FakeExperts, recorded

TURNS = 50
MAX_GROWTH_MB = 50


class FixedPlanController:
    """A plan for planning calls, a short sentence for everything else."""

    name = "fixed"

    def __init__(self) -> None:
        self.turn = 0

    def chat(self, messages, *, schema=None, max_tokens=512, on_token=None, cancel=None, stage="general"):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if stage == "planning":
            self.turn += 1
            text = json.dumps({"tasks": [
                {"id": 0, "task": "text-to-image", "dep": [], "args": {"text": f"a boat, take {self.turn}"}},
                {"id": 1, "task": "image-to-text", "dep": [0], "args": {"image": "<GENERATED>-0"}},
                {"id": 2, "task": "sentence-similarity", "dep": [1],
                 "args": {"text": "<GENERATED>-1", "text2": "a boat"}},
            ]})
        else:
            text = f"Here is the boat ({self.turn})."
        if on_token:
            on_token(text)
        return ChatResult(text, "stop")


class FileWritingExperts(FakeExperts):
    """Image outputs are real small files in the turn's folder, as the real runners write them."""

    def run(self, model_id, task, inputs, workdir, cancel):
        outputs = super().run(model_id, task, inputs, workdir, cancel)
        if "image" in outputs:
            path = workdir / outputs["image"]
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2048))
            outputs["image"] = str(path)
        return outputs


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def test_fifty_turns_in_one_conversation_keep_memory_flat_and_are_all_saved(tmp_path):
    experts = FileWritingExperts(
        text_to_image=lambda inputs, cancel: {"image": "boat.png"},
        image_to_text=lambda inputs, cancel: {"text": "a small boat on water " * 5},
        sentence_similarity=lambda inputs, cancel: {"text": "score 0.9", "score": 0.9},
    )
    engine = Engine(FixedPlanController(), experts)
    events = []
    engine.bus.subscribe(events.append)
    store = recorded(engine, ConversationStore(tmp_path))
    conversation = store.create("Soak")

    rss_at_10 = 0.0
    start = time.perf_counter()
    for n in range(1, TURNS + 1):
        turn = engine.ask(f"draw a boat, take {n}, and tell me what you see", conversation)
        assert turn.status == "done", (n, turn.error)
        assert [r.status for r in turn.results] == ["done", "done", "done"]
        events.clear()  # a front end consumes events as they come; the soak measures the engine
        if n == 10:
            rss_at_10 = rss_mb()
    seconds = time.perf_counter() - start
    growth = rss_mb() - rss_at_10
    print(f"\nsoak: {TURNS} turns in {seconds:.2f} s ({seconds / TURNS * 1000:.1f} ms/turn); "
          f"RSS growth from turn 10 to {TURNS}: {growth:+.1f} MB")
    assert growth < MAX_GROWTH_MB

    reloaded = ConversationStore(tmp_path).open(conversation.id)
    assert len(reloaded.turns) == TURNS
    assert all(t.status == "done" for t in reloaded.turns)
    assert [t.request for t in reloaded.turns] == [
        f"draw a boat, take {n}, and tell me what you see" for n in range(1, TURNS + 1)]
    assert reloaded.turns[-1].answer.endswith(f"\n\nHere is the boat ({TURNS}).")
    # Artifacts of every turn stay in the conversation's folder and are known to the next turn.
    assert len(reloaded.known_files()) >= 1
    assert all(t.results[0].outputs["image"].startswith(str(conversation.folder)) for t in reloaded.turns)
