"""A turn is folded from the event stream, and the store's recorder keeps it saved after each event."""

from core.events import (AnswerToken, ModelChosen, PlanReady, RunFinished, StageStarted, TaskDone, TaskFailed,
                         TurnStarted)
from core.history.recorder import TurnRecorder
from core.history.store import ConversationStore
from core.turn import Turn, run_status

PLAN = [{"id": 0, "task": "image-to-text", "dep": [], "args": {"image": "a.png"}},
        {"id": 1, "task": "text-to-speech", "dep": [0], "args": {"text": "<GENERATED>-0"}}]
DONE = {"id": 0, "task": "image-to-text", "model": "m0", "status": "done", "inputs": {"image": "/a.png"},
        "outputs": {"text": "a boat"}, "error": "", "seconds": 0.5}
SKIPPED = {"id": 1, "task": "text-to-speech", "model": "m1", "status": "skipped",
           "inputs": {}, "outputs": {}, "error": "task 0 failed", "seconds": 0.0}


def events():
    return [TurnStarted(conversation_id="c1", request="caption a.png and read it", files={"a.png": "/a.png"},
                        attachments=["/a.png"], at=100.0),
            StageStarted(stage="planning", at=100.0), PlanReady(plan=PLAN, at=101.5),
            StageStarted(stage="selection", at=101.5),
            ModelChosen(task_id=0, task="image-to-text", model="m0", reason="only one", at=101.6),
            ModelChosen(task_id=1, task="text-to-speech", model="m1", reason="only one", at=101.7),
            StageStarted(stage="execution", at=102.0),
            TaskFailed(task_id=1, error="task 0 failed", skipped=True, result=SKIPPED, at=103.0),
            TaskDone(task_id=0, result=DONE, at=103.0),
            StageStarted(stage="response", at=103.0), AnswerToken(text="It shows ", at=103.5),
            AnswerToken(text="a boat.", at=103.6), RunFinished(status="partial", answer="It shows a boat.", at=104.0)]


def test_folding_the_stream_builds_the_whole_record_and_it_round_trips():
    stream = events()
    turn = Turn.started(stream[0])
    for event in stream[1:]:
        turn.apply(event)
    assert turn.plan == PLAN and [s.model for s in turn.selections] == ["m0", "m1"]
    assert [r.task_id for r in turn.results] == [0, 1]  # plan order, whatever order they finished in
    assert turn.answer == "It shows a boat." and turn.status == "partial"
    assert turn.timings == {"planning": 1.5, "selection": 0.5, "execution": 1.0, "response": 1.0}
    assert Turn.from_dict(turn.to_dict()) == turn
    assert run_status(turn.results) == "partial"


def test_the_recorder_saves_the_turn_after_every_step(tmp_path):
    store = ConversationStore(tmp_path)
    recorder = TurnRecorder(store)
    seen = []
    for event in events():
        recorder(event)
        seen.append(ConversationStore(tmp_path).open("c1").turns[0])
    after = {type(e).__name__: turn for e, turn in zip(events(), seen)}
    assert after["TurnStarted"].status == "running" and after["TurnStarted"].plan == []
    assert after["PlanReady"].plan == PLAN
    assert [r.status for r in after["TaskDone"].results] == ["done", "skipped"]
    assert seen[-1].status == "partial" and seen[-1].answer == "It shows a boat."
    assert store.recover_interrupted() == 0  # finished turns are not touched
