"""`main.py run TASK_TYPE [--model ID] [--text TEXT]... [--file PATH]... [--json]`: one expert task,
straight on an installed model, without the controller (for scripts, checks and benchmarks).

`--text` values fill the task's text inputs in order, `--file` values its file inputs in order.
Artifacts go to `<data dir>/runs/<timestamp>/`. A task with a built-in runner (canny-control)
needs no model; a task type the app does not run (tabular-classification) is refused with the
reason. Module-level imports stay light: the command line imports every command module at start-up.
"""

from __future__ import annotations

import json
import sys
import time

from app.cli import EXIT_FAILED, EXIT_OK, UsageError
from app.commands.ask import check_files


def add_parser(commands) -> None:
    run = commands.add_parser("run", help="run one expert task on an installed model (no controller)")
    run.add_argument("task", metavar="TASK_TYPE", help="e.g. image-classification, text-to-speech")
    run.add_argument("--model", metavar="ID", help="installed model to use (default: the runtime's first choice)")
    run.add_argument("--text", action="append", default=[], metavar="TEXT",
                     help="a text input, in the task's order (repeatable)")
    run.add_argument("--file", action="append", default=[], metavar="PATH",
                     help="a file input (image, audio), in the task's order (repeatable)")
    run.add_argument("--experts-url", metavar="URL",
                     help="run it on a cluster (`main.py experts serve`), e.g. http://gpu-box:8000/experts")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    run.set_defaults(handler=cmd_run)


def task_inputs(task_type, texts: list[str], files: list[str]) -> dict[str, str]:
    """Slot name -> value, from --text and --file in the order the task lists its inputs."""
    text_slots = [s for s in task_type.inputs if s.modality == "text"]
    file_slots = [s for s in task_type.inputs if s.modality != "text"]
    for given, slots, flag in ((texts, text_slots, "--text"), (files, file_slots, "--file")):
        if len(given) > len(slots):
            names = ", ".join(s.name for s in slots) or "none"
            raise UsageError(f"{task_type.name} takes {len(slots)} {flag} value(s) ({names}); got {len(given)}")
    inputs = {slot.name: value for slot, value in zip(text_slots, texts)}
    inputs.update({slot.name: value for slot, value in zip(file_slots, files)})
    for slot in task_type.inputs:
        if slot.required and slot.name not in inputs:
            flag = "--text" if slot.modality == "text" else "--file"
            raise UsageError(f"{task_type.name} needs {flag} for its '{slot.name}' input ({slot.hint})")
    return inputs


def cmd_run(args) -> int:
    from core.tasks import get_task_type, task_names, unavailable_reason

    task_type = get_task_type(args.task)
    if task_type is None:
        raise UsageError(f"unknown task '{args.task}'; known tasks: {', '.join(task_names())}")
    if unavailable_reason(task_type.name):
        raise UsageError(f"{task_type.name} is not available in this app: {unavailable_reason(task_type.name)}")
    files = [str(path) for path in check_files(args.file)]
    inputs = task_inputs(task_type, args.text, files)

    from datetime import datetime

    from app.settings import Settings
    from app.wiring import build_runtime
    from common.cancel import CancelToken
    from core.experts import ExpertsUnavailable
    from models.runners import model_tasks_for, runner_for
    from models.runtime import ExpertError

    task = task_type.name
    if runner_for(task) is None:
        raise UsageError(f"no expert runner does {task} yet")
    settings = Settings.load()
    experts_url = args.experts_url or settings.experts_url
    if experts_url:  # the cluster checks the model; this machine may not have it
        from app.cluster.client import RemoteExperts

        try:
            runtime = RemoteExperts(experts_url)
            model = args.model or _first_candidate(runtime, task)
        except ExpertsUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_FAILED
    else:
        runtime = build_runtime(settings)
        model = args.model or _first_candidate(runtime, task)
        record = runtime.record(model)
        if record is None:
            raise UsageError(f"--model {model}: not installed (see `main.py models list`)")
        if record.task not in model_tasks_for(task):
            raise UsageError(f"--model {model} does {record.task}, not {task}")
    workdir = settings.data_path / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    start = time.perf_counter()
    try:
        outputs = runtime.run(model, task, inputs, workdir, CancelToken())
    except (ExpertError, ExpertsUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    seconds = round(time.perf_counter() - start, 4)
    if args.json:
        print(json.dumps({"task": task, "model": model, "device": outputs.get("device"), "outputs": outputs,
                          "seconds": seconds}, indent=2, ensure_ascii=False))
    else:
        print(f"{task} with {model} on {outputs.get('device')} ({outputs.get('dtype')}), {seconds:.2f} s")
        for key, value in outputs.items():
            if key not in ("device", "dtype", "inference_s"):
                print(f"  {key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
    return EXIT_OK


def _first_candidate(runtime, task: str) -> str:
    candidates = runtime.candidates(task)
    if not candidates:
        raise UsageError(f"no model installed for {task}; see `main.py models catalogue --task {task}`")
    return candidates[0].id
