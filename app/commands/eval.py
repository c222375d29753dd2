"""`main.py eval plan --data FILE [--controller PATH.gguf] [--limit N] [--json]`: planning quality.

Plans each request of a TaskBench-format file with the real controller through the product's
planner and scores the plans against the gold ones (node, link and argument F1, edit distance,
valid rate, seconds per request), overall and per sample type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.cli import EXIT_OK, UsageError

COLUMNS = (("n", "n", "{:d}"), ("valid", "valid_rate", "{:.1%}"), ("node F1", "node_f1", "{:.1%}"),
           ("macro", "node_f1_macro", "{:.1%}"), ("link F1", "link_f1", "{:.1%}"),
           ("edit dist", "edit_distance", "{:.3f}"), ("arg F1", "arg_f1", "{:.1%}"),
           ("s/req", "seconds_per_request", "{:.2f}"))


def add_parser(commands) -> None:
    evaluate = commands.add_parser("eval", help="measure quality against benchmark data")
    kinds = evaluate.add_subparsers(dest="eval_kind", required=True)
    plan = kinds.add_parser("plan", help="planning quality on TaskBench-format JSON lines")
    plan.add_argument("--data", required=True, metavar="FILE", help="TaskBench-format samples, one JSON object a line")
    plan.add_argument("--tools", metavar="FILE", help="the tool list (default: tool_desc.json beside --data)")
    plan.add_argument("--controller", metavar="PATH.gguf", help="controller GGUF to use instead of the setting")
    plan.add_argument("--limit", type=int, metavar="N", help="only the first N samples")
    plan.add_argument("--type", dest="sample_type", metavar="TYPE", help="only samples of this type (single, chain, dag)")
    plan.add_argument("--all-types", action="store_true",
                      help="plan with the whole task catalogue instead of the benchmark's tool set")
    plan.add_argument("--steps", choices=("auto", "listed", "clauses", "inline", "off"),
                      help="how plans follow the request's steps (default: the plan_steps setting)")
    plan.add_argument("--wiring", choices=("auto", "types", "controller"), default="auto",
                      help="who wires each task to the earlier ones: the task types (steps from the clauses) "
                           "or the controller (default auto: the types with steps from the clauses)")
    plan.add_argument("--folds", type=int, metavar="K",
                      help="also give node and link F1 on each of K folds (by a hash of the sample id), "
                           "with their mean and range")
    plan.add_argument("--predictions", metavar="FILE", help="also write each sample's plan and scores as JSON lines")
    plan.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    plan.set_defaults(handler=cmd_eval_plan)
    answers = kinds.add_parser("answers", help="grounding of answers on the project's fixed execution records")
    answers.add_argument("--controller", metavar="PATH.gguf", help="controller GGUF to use instead of the setting")
    answers.add_argument("--controller-url", metavar="URL", help="an OpenAI-compatible server as the controller")
    answers.add_argument("--limit", type=int, metavar="N", help="only the first N records")
    answers.add_argument("--show", action="store_true", help="print each answer and what the check found")
    answers.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    answers.set_defaults(handler=cmd_eval_answers)


def cmd_eval_answers(args) -> int:
    from app.settings import Settings
    from app.wiring import build_controller, build_runtime
    from core.answering.evaluation import evaluate_answers, load_records
    from core.answering.responder import Responder

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    settings = Settings.load()
    if args.controller_url:
        settings.controller_url = args.controller_url
    controller = build_controller(settings, args.controller)
    # The real catalogue's recommendations, as the app gives them; nothing is run.
    responder = Responder(controller, recommend=build_runtime(settings).recommend)
    report = evaluate_answers(responder, load_records(), args.limit)
    summary = {"controller": controller.name, **report.summary()}
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    if args.show:
        for score in report.scores:
            print(f"--- [{score.kind}] {score.request}\n{score.answer}")
            if score.draft_unsupported:
                print(f"(the controller's draft claimed {', '.join(score.draft_unsupported)}: not in the record)")
    print(f"controller: {summary['controller']}")
    for key in ("n", "unsupported_rate", "draft_unsupported_rate", "failures_reported", "prose_rate",
                "seconds_per_answer"):
        print(f"  {key:24} {summary[key]}")
    return EXIT_OK


def cmd_eval_plan(args) -> int:
    from app.settings import Settings
    from app.wiring import controller_path, planner_for
    from core.llm.controller import LlamaController, LlamaSettings
    from core.planning.evaluation import harness
    from core.planning.evaluation.names import ToolNames
    from core.planning.evaluation.taskbench import load_samples, load_tools

    if args.folds is not None and args.folds < 2:
        raise UsageError("--folds must be at least 2")
    data = Path(args.data)
    tools_path = Path(args.tools) if args.tools else data.with_name("tool_desc.json")
    for path, flag in ((data, "--data"), (tools_path, "--tools")):
        if not path.is_file():
            raise UsageError(f"{flag} {path}: no such file" + ("" if args.tools or flag == "--data"
                                                                  else " (pass the tool list with --tools)"))
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    try:
        names = ToolNames(load_tools(tools_path))
        samples, skipped = load_samples(data, names)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read the evaluation data: {error}") from error
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if args.sample_type:
        samples = [s for s in samples if s.type == args.sample_type]
    samples = samples[:args.limit] if args.limit else samples
    if not samples:
        raise UsageError(f"{data}: no usable samples")

    settings = Settings.load()
    controller = LlamaController(LlamaSettings(
        path=controller_path(settings, args.controller), n_ctx=settings.n_ctx,
        n_threads=settings.n_threads or None, n_gpu_layers=settings.n_gpu_layers))
    options = {} if args.all_types else {"task_types": names.task_types()}
    if args.steps and args.steps != "auto":
        options["steps"] = args.steps
    if args.wiring != "auto":
        options["data_flow"] = args.wiring == "types"
    planner = planner_for(settings)(controller, **options)
    writer = _PredictionWriter(args.predictions, names.tools)
    try:
        predictions = harness.run(samples, lambda request: planner.plan(request, []).graph, names,
                                  on_prediction=writer)
    finally:
        writer.close()
    figures = harness.summarise(predictions, names.tools)
    figures.update(controller=controller.name, data=str(data), skipped=len(skipped),
                   task_types="catalogue" if args.all_types else "tool set", steps=planner.steps,
                   wiring="types" if planner.data_flow and planner.steps in ("listed", "clauses") else "controller")
    if args.folds:
        figures["cross_validation"] = harness.by_fold(predictions, names.tools, args.folds)
    print(json.dumps(figures, indent=2) if args.json else format_table(figures))
    return EXIT_OK


class _PredictionWriter:
    """Per-sample records, written as they come, so a long run can be inspected while it goes."""

    def __init__(self, path: str | None, tools: list[str]) -> None:
        self.handle = open(path, "w", encoding="utf-8") if path else None  # noqa: SIM115 - closed in close()
        self.tools = tools

    def __call__(self, prediction) -> None:
        print(f"[{prediction.sample.id}] {prediction.sample.type:6} {prediction.seconds:5.2f}s "
              f"{'valid' if prediction.valid else 'INVALID'} {' -> '.join(prediction.graph.nodes)}",
              file=sys.stderr, flush=True)
        if self.handle is not None:
            from core.planning.evaluation.metrics import score

            record = prediction.to_dict()
            record["scores"] = score([(prediction.sample.gold, prediction.graph)], self.tools)
            self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def format_table(figures: dict) -> str:
    rows = [("overall", figures)] + list(figures["by_type"].items())
    header = f"{'':10}" + "".join(f"{title:>11}" for title, _, _ in COLUMNS)
    lines = [f"planning quality: {figures['controller']} on {figures['data']} ({figures['task_types']}, "
             f"steps {figures.get('steps', 'off')}, wired by the {figures.get('wiring', 'controller')})", header]
    for label, values in rows:
        cells = "".join(f"{('-' if values[key] is None else fmt.format(values[key])):>11}" for _, key, fmt in COLUMNS)
        lines.append(f"{label:10}{cells}")
    validation = figures.get("cross_validation")
    if validation:
        per_fold = "  ".join(f"{f['fold']}: {_percent(f['node_f1'])} / {_percent(f['link_f1'])}"
                             for f in validation["folds"])
        lines.append(f"per fold, node / link F1: {per_fold}")
        for key, label in (("node_f1", "node F1"), ("link_f1", "link F1")):
            if key in validation:
                spread = validation[key]
                lines.append(f"  {label} over {len(validation['folds'])} folds: mean {spread['mean']:.1%}, "
                             f"range {spread['min']:.1%} to {spread['max']:.1%}")
    return "\n".join(lines)


def _percent(value) -> str:
    return "-" if value is None else f"{value:.1%}"
