import threading
import time

from common.cancel import CancelToken
from core.events import EventBus, TaskDone, TaskFailed, TaskStarted
from core.executor import Executor
from core.plan import parse_plan, validate


def graph_of(*tasks):
    graph = parse_plan({"tasks": list(tasks)})
    validate(graph)
    return graph


def run(graph, behaviours, cancel=None):
    """behaviours: task id -> fn(inputs, cancel) -> outputs."""
    bus = EventBus()
    events = []
    bus.subscribe(events.append)

    def run_task(task, inputs, token):
        return behaviours[task.id](inputs, token)

    results = Executor(bus, max_workers=4).run(graph, run_task, {}, {}, cancel or CancelToken())
    return results, events


CHAIN = (
    {"id": 0, "task": "text-generation", "args": {"text": "start"}},
    {"id": 1, "task": "summarization", "args": {"text": "<GENERATED>-0"}},
    {"id": 2, "task": "translation", "args": {"text": "<GENERATED>-1", "language": "German"}},
)


def test_chain_runs_in_order_and_resolves_generated_outputs():
    order = []

    def step(name):
        def fn(inputs, cancel):
            order.append(name)
            return {"text": inputs["text"] + ">" + name}
        return fn

    results, events = run(graph_of(*CHAIN), {0: step("a"), 1: step("b"), 2: step("c")})
    assert order == ["a", "b", "c"]
    assert results[2].outputs["text"] == "start>a>b>c"
    assert results[1].inputs == {"text": "start>a"}
    assert [type(e) for e in events] == [TaskStarted, TaskDone] * 3


def test_independent_tasks_run_concurrently():
    barrier = threading.Barrier(2, timeout=10)

    def meet(inputs, cancel):
        barrier.wait()  # raises BrokenBarrierError unless both run at the same time
        return {"text": "met"}

    graph = graph_of({"id": 0, "task": "text-generation", "args": {"text": "a"}},
                     {"id": 1, "task": "text-generation", "args": {"text": "b"}},
                     {"id": 2, "task": "summarization", "dep": [0, 1], "args": {"text": "<GENERATED>-1"}})
    results, _ = run(graph, {0: meet, 1: meet, 2: lambda i, c: {"text": "joined " + i["text"]}})
    assert [r.status for r in results.values()] == ["done", "done", "done"]
    assert results[2].outputs["text"] == "joined met"


def test_dependent_starts_without_a_polling_delay():
    finished_at = {}

    def first(inputs, cancel):
        finished_at["first"] = time.perf_counter()
        return {"text": "x"}

    def second(inputs, cancel):
        finished_at["second_start"] = time.perf_counter()
        return {"text": "y"}

    run(graph_of(*CHAIN[:2]), {0: first, 1: second})
    # Event-driven hand-over: far below any polling interval (HuggingGPT polls every 0.5 s).
    assert finished_at["second_start"] - finished_at["first"] < 0.05


def test_failure_skips_dependents_and_the_rest_goes_on():
    def boom(inputs, cancel):
        raise RuntimeError("model exploded")

    graph = graph_of(*CHAIN, {"id": 3, "task": "text-to-speech", "args": {"text": "independent"}})
    results, events = run(graph, {0: lambda i, c: {"text": "ok"}, 1: boom,
                                  2: lambda i, c: {"text": "never"}, 3: lambda i, c: {"audio": "/x.wav"}})
    assert results[0].status == "done"
    assert results[1].status == "failed" and results[1].error == "model exploded"
    assert results[2].status == "skipped" and results[2].error == "its input, task 1 (summarization), failed"
    assert results[3].status == "done"
    skipped = [e for e in events if isinstance(e, TaskFailed) and e.skipped]
    assert [e.task_id for e in skipped] == [2]


def test_missing_output_kind_fails_the_consumer_with_a_message():
    graph = graph_of(*CHAIN[:2])
    results, _ = run(graph, {0: lambda i, c: {"labels": []}, 1: lambda i, c: {"text": "no"}})
    assert results[1].status == "failed"
    assert "produced no text" in results[1].error


def test_cancellation_stops_the_run_at_once():
    cancel = CancelToken()
    started = threading.Event()

    def slow(inputs, token):
        started.set()
        stopped = threading.Event()
        token.on_cancel(stopped.set)  # a cooperative runner returns as soon as it is cancelled
        stopped.wait(30)
        return {"text": "late"}

    def cancel_when_started():
        started.wait(10)
        cancel.cancel()

    threading.Thread(target=cancel_when_started).start()
    begin = time.perf_counter()
    results, _ = run(graph_of(*CHAIN), {0: slow, 1: slow, 2: slow}, cancel)
    assert time.perf_counter() - begin < 5
    assert all(r.status == "cancelled" for r in results.values())


def test_cancelled_before_start_runs_nothing():
    cancel = CancelToken()
    cancel.cancel()
    calls = []
    results, _ = run(graph_of(*CHAIN), {i: (lambda i_, c: calls.append(1)) for i in range(3)}, cancel)
    assert calls == []
    assert {r.status for r in results.values()} == {"cancelled"}


def test_what_a_runner_reports_becomes_its_tasks_progress_events():
    """Two branches at once, each in its own thread: each report reaches the task it came from."""
    from common.progress import report
    from core.events import TaskProgress

    barrier = threading.Barrier(2, timeout=10)

    def steps(total):
        def fn(inputs, cancel):
            barrier.wait()
            for done in range(1, total + 1):
                report(done, total, f"step {done}/{total}")
            return {"text": "drawn"}
        return fn

    graph = graph_of({"id": 0, "task": "text-generation", "args": {"text": "a"}},
                     {"id": 1, "task": "text-generation", "args": {"text": "b"}})
    _, events = run(graph, {0: steps(3), 1: steps(5)})
    progress = [e for e in events if isinstance(e, TaskProgress)]
    assert {e.task_id for e in progress} == {0, 1}
    for task_id, total in ((0, 3), (1, 5)):
        mine = [e for e in progress if e.task_id == task_id]
        assert mine[0].message == f"step 1/{total}" and mine[-1].message == f"step {total}/{total}"
        assert mine[-1].fraction == 1.0
    report(1, 2, "outside any task")  # nobody listens: nothing happens
