"""The plan's tasks shown as the controller writes them: the stream parser, the planner with the
real controller, and the window's graph before planning ends."""

import json
import threading

from PySide6.QtCore import Qt

from core.planning.draft import TaskStream, preview
from tests.fakes import ScriptedController

PLAN = {"tasks": [{"id": 0, "task": "summarization", "dep": [], "args": {"text": "The cat sat on the mat all day."}},
                  {"id": 1, "task": "translation", "dep": [0],
                   "args": {"text": "<GENERATED>-0", 'language': 'French {not a brace} "quoted" [x]'}}]}


def test_each_task_is_drafted_when_its_object_closes_whatever_the_pieces():
    text = json.dumps(PLAN)
    for size in (1, 3, 17, len(text)):
        drafts = []
        stream = TaskStream(drafts.append)
        for start in range(0, len(text), size):
            stream.feed(text[start:start + size])
        assert [len(d) for d in drafts] == [1, 2]
        assert drafts[-1] == PLAN["tasks"]  # braces and quotes inside strings do not count


def test_a_task_is_not_drafted_before_it_is_complete():
    drafts = []
    stream = TaskStream(drafts.append)
    text = json.dumps(PLAN)
    stream.feed(text[:text.index('{"id": 1')] + '{"id": 1, "task": "transl')
    assert [[t["task"] for t in d] for d in drafts] == [["summarization"]]


def test_the_preview_draws_steps_and_partial_tasks():
    assert preview([{"id": 0, "step": "describe it"}, {"id": 1, "step": "read it aloud"}]) == [
        {"id": 0, "task": "-", "dep": [], "step": "describe it"},
        {"id": 1, "task": "-", "dep": [], "step": "read it aloud"}]
    assert preview([{"id": 0, "task": "a", "dep": [3]}])[0]["dep"] == []  # only drafted parents


def test_the_real_controller_drafts_the_plan_it_then_returns(real_controller):
    from app.settings import Settings
    from app.wiring import planner_for

    planner = planner_for(Settings())(real_controller)
    drafts = []
    outcome = planner.plan("Describe photo.jpg and then translate the description into French.", ["photo.jpg"],
                           on_draft=drafts.append)
    assert drafts, "nothing was drafted while planning"
    drafted = {t["task"] for draft in drafts for t in draft if "task" in t}
    # Every task of the plan was shown as it was written (repairs only merge or drop tasks).
    assert {t["task"] for t in outcome.graph.to_list()} <= drafted


class SlowPlanner(ScriptedController):
    """Writes the plan in pieces and holds the last piece until released, as a slow model would."""

    def __init__(self, plan, answer):
        super().__init__(plan, answer)
        self.release = threading.Event()

    def chat(self, messages, *, schema=None, max_tokens=512, on_token=None, cancel=None, stage="general"):
        if stage == "planning" and on_token is not None:
            text = json.dumps(self.replies[0])
            cut = text.index('{"id": 1')
            on_token(text[:cut])
            self.release.wait(30)
        return super().chat(messages, schema=schema, max_tokens=max_tokens, on_token=None, cancel=cancel, stage=stage)


def test_the_window_shows_drafted_tasks_before_planning_ends(qtbot, tmp_path):
    from app.settings import Settings
    from tests.test_desktop import fake_factory, open_window

    controller = SlowPlanner(PLAN, "A caption, in French.")
    window = open_window(qtbot, Settings(data_dir=str(tmp_path / "data")), fake_factory(
        controller, summarization=lambda i, c: {"text": "a cat sat"}, translation=lambda i, c: {"text": "un chat"}))
    window.chat.composer.input.setPlainText("Summarize 'The cat sat on the mat all day.' and translate it into French.")
    qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    try:
        qtbot.waitUntil(lambda: 0 in window.chat.graph.nodes, timeout=20_000)
        node = window.chat.graph.nodes[0]
        assert node.status == "planned" and node.task["task"] == "summarization"
        assert "1 task so far: summarization" in window.chat.chat.turns[-1].status.text()
    finally:
        with qtbot.waitSignal(window.bridge.finished, timeout=30_000):
            controller.release.set()
    assert [n.task["task"] for n in window.chat.graph.nodes.values()] == ["summarization", "translation"]
