"""Who should wire a plan: the controller, or the task types (core/planning/data_flow.py)?

    .venv/bin/python main.py eval plan --data ../shared/eval/taskbench_hf_dev.jsonl --predictions P.jsonl \
        [--controller PATH.gguf]
    .venv/bin/python benchmarks/bench_wiring.py P.jsonl [P2.jsonl ...]

On the same plans (the types and steps an evaluation's controller produced), scores the links
as the controller wired them and as the planner's `data_flow` would (each task fed by
`wired_input`, else the controller's links),
for the whole file and per fold (`fold_of`, 5 folds), so the choice can be made on some folds
and checked on the others.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.planning.data_flow import wired_input  # noqa: E402
from core.planning.evaluation.harness import fold_of  # noqa: E402
from core.planning.evaluation.metrics import score  # noqa: E402
from core.planning.evaluation.names import ToolNames  # noqa: E402
from core.planning.evaluation.taskbench import Graph, load_tools  # noqa: E402

TOOLS = ROOT.parent / "shared" / "eval" / "tool_desc.json"
FOLDS = 5


def controller_links(plan: list[dict]) -> list[tuple[int, int]]:
    """The links the controller wrote: dependencies (which the planner's repair sets to the
    earlier outputs a task uses)."""
    return [(d, task["id"]) for task in plan for d in task["dep"]]


def types_links(plan: list[dict]) -> list[tuple[int, int]]:
    """As the planner wires with `data_flow`: by the types, except where a step gives its own
    input, which the controller wires (its links from the plan as recorded)."""
    types = [task["task"] for task in plan]
    links = []
    for k, task in enumerate(plan):
        wired = wired_input(types, k, task.get("step", ""))
        links += [(wired[0], k)] if wired else [(d, k) for d in task["dep"]]
    return links


def report(path: Path, names: ToolNames) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"{path} ({len(rows)} plans)")
    for label, wiring in (("controller", controller_links), ("task types", types_links)):
        pairs = []
        for row in rows:
            tool = {task["id"]: names.tool(task["task"]) for task in row["plan"]}
            links = tuple(dict.fromkeys((tool[a], tool[b]) for a, b in wiring(row["plan"]) if a in tool))
            gold = Graph(tuple(row["gold"]), tuple(tuple(link) for link in row["gold_links"]))
            pairs.append((fold_of(row["id"], FOLDS), gold, Graph(tuple(row["predicted"]), links)))
        whole = score([(g, p) for _, g, p in pairs], names.tools)["link_f1"] or 0.0
        folds = [100 * (score([(g, p) for f, g, p in pairs if f == k], names.tools)["link_f1"] or 0.0)
                 for k in range(FOLDS)]
        print(f"  {label:12} link F1 {100 * whole:.1f} | per fold " + " ".join(f"{v:.1f}" for v in folds)
              + f" (mean {statistics.mean(folds):.1f})")


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    names = ToolNames(load_tools(TOOLS))
    for arg in sys.argv[1:]:
        report(Path(arg), names)


if __name__ == "__main__":
    main()
