"""`main.py ask "REQUEST" [--file PATH]... [--json]`: one request through all four stages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.cli import EXIT_FAILED, EXIT_OK, UsageError, check_file_name
from core.events import AnswerToken, Event, ModelChosen, PlanReady, StageStarted, TaskDone, TaskFailed, TaskStarted


def add_parser(commands) -> None:
    ask = commands.add_parser("ask", help="run one request: plan, select models, execute, answer")
    ask.add_argument("request", help="what you would like done")
    ask.add_argument("--file", action="append", default=[], metavar="PATH", help="attach a file (repeatable)")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ask.add_argument("--controller", metavar="PATH.gguf", help="controller GGUF to use instead of the setting")
    ask.add_argument("--controller-url", metavar="URL",
                     help="use an OpenAI-compatible server as the controller, e.g. http://gpu-box:8080/v1")
    ask.add_argument("--controller-model", metavar="NAME", help="model name on that server (default: its first)")
    ask.add_argument("--experts-url", metavar="URL",
                     help="run the experts on a cluster (`main.py experts serve`), e.g. http://gpu-box:8000/experts")
    ask.add_argument("--conversation", metavar="ID",
                     help="continue (or start) the saved conversation ID, so the request can refer to earlier turns")
    ask.add_argument("--plan", metavar="PLAN.json",
                     help="run this task list instead of planning (a saved plan, or one written by hand)")
    ask.set_defaults(handler=cmd_ask)


def check_files(paths: list[str]) -> list[Path]:
    """Checked before the controller loads, so a typo fails in a fraction of a second."""
    from core.engine import InputError, check_attachment

    checked = []
    for raw in paths:
        check_file_name("--file", raw)
        path = Path(raw).expanduser()
        try:
            check_attachment(path)
        except InputError as error:
            raise UsageError(f"--file {error}") from error
        checked.append(path.resolve())
    return checked


MAX_PLAN_BYTES = 1 << 20  # a plan is a few kilobytes; more is not a plan


def load_plan(path: str) -> list[dict]:
    try:
        if not Path(path).is_file():  # a FIFO or a device would block the read, or never end
            raise UsageError(f"--plan {path}: not a regular file")
        if Path(path).stat().st_size > MAX_PLAN_BYTES:
            raise UsageError(f"--plan {path}: larger than {MAX_PLAN_BYTES >> 20} MiB, not a plan")
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"--plan {path}: {error.strerror}") from error
    except ValueError as error:
        raise UsageError(f"--plan {path}: not valid JSON ({error})") from error
    tasks = data.get("tasks", data.get("plan")) if isinstance(data, dict) else data
    if not isinstance(tasks, list):
        raise UsageError(f"--plan {path}: expected a list of tasks, or an object with 'tasks' or 'plan'")
    return tasks


def cmd_ask(args) -> int:
    from app.settings import Settings
    from app.wiring import build_app
    from core.engine import InputError
    from core.history.store import ConversationIdError, check_conversation_id
    from core.experts import ExpertsUnavailable

    if not args.request.strip():
        raise UsageError("the request is empty: say what you would like done")
    files = check_files(args.file)
    plan = load_plan(args.plan) if args.plan else None
    if args.conversation:
        try:
            check_conversation_id(args.conversation)
        except ConversationIdError as error:
            raise UsageError(str(error)) from None
    settings = Settings.load()
    if args.controller_url:
        settings.controller_url = args.controller_url
        settings.controller_model = args.controller_model or ""
    if args.experts_url:
        settings.experts_url = args.experts_url
    try:
        app = build_app(settings, args.controller)
    except ExpertsUnavailable as error:
        raise UsageError(str(error)) from None
    store = app.conversations()
    if args.conversation:
        conversation = store.open_or_create(args.conversation)  # checked before the app was built
    else:
        conversation = store.create(title=args.request[:60])
    if not args.json:
        app.engine.bus.subscribe(TextPrinter())
    try:
        turn = app.engine.ask(args.request, conversation, files, plan=plan)
    except InputError as error:
        raise UsageError(str(error)) from error
    if args.json:
        record = turn.to_dict()
        print(json.dumps({"plan": record["plan"], "selections": record["selections"],
                          "results": record["results"], "answer": record["answer"],
                          "status": record["status"], "error": record["error"],
                          "repairs": record["repairs"], "timings": record["timings"],
                          "conversation": conversation.id}, indent=2, ensure_ascii=False))
    else:
        if turn.status != "done":
            print(f"\n{turn.status}: {turn.error}")
        print(f"\n(conversation {conversation.id})")
    return EXIT_OK if turn.status == "done" else EXIT_FAILED


class TextPrinter:
    """Prints the event stream as it happens, for people at a terminal."""

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, event: Event) -> None:
        if self.closed:
            return
        try:
            self._print(event, sys.stdout)
        except BrokenPipeError:
            self.closed = True

    @staticmethod
    def _print(event: Event, out) -> None:
        if isinstance(event, StageStarted) and event.stage == "response":
            out.write("\nanswer:\n")
        elif isinstance(event, PlanReady):
            out.write("plan:\n")
            for task in event.plan:
                dep = f" after {task['dep']}" if task["dep"] else ""
                out.write(f"  [{task['id']}] {task['task']}{dep} {json.dumps(task['args'], ensure_ascii=False)}\n")
            for note in event.repairs:
                out.write(f"  (repaired: {note})\n")
        elif isinstance(event, ModelChosen):
            out.write(f"model for [{event.task_id}] {event.task}: {event.model or '(none)'} - {event.reason}\n")
        elif isinstance(event, TaskStarted):
            out.write(f"running [{event.task_id}] {event.task} on {event.model}\n")
        elif isinstance(event, TaskDone):
            outputs = {k: v for k, v in event.result["outputs"].items() if k not in ("dtype", "inference_s")}
            out.write(f"done [{event.task_id}] in {event.result['seconds']:.2f}s: "
                      f"{json.dumps(outputs, ensure_ascii=False)[:400]}\n")
        elif isinstance(event, TaskFailed):
            out.write(f"{'skipped' if event.skipped else 'failed'} [{event.task_id}]: {event.error}\n")
        elif isinstance(event, AnswerToken):
            out.write(event.text)
        out.flush()
