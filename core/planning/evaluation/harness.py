"""Plan every sample with a planning function and score the plans, overall and per sample type.

The planning function is the product's planner in use (`request -> TaskGraph`); a request it cannot
plan (an error, or a plan that fails validation) is scored as an empty plan, which is what the
product would run.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable

from core.plan import TaskGraph
from core.planning.evaluation.metrics import score
from core.planning.evaluation.names import ToolNames
from core.planning.evaluation.taskbench import Graph, Sample

SAMPLE_TYPES = ("single", "chain", "dag")


@dataclass
class Prediction:
    sample: Sample
    graph: Graph
    valid: bool
    seconds: float
    plan: list[dict] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict:
        return {"id": self.sample.id, "type": self.sample.type, "valid": self.valid,
                "seconds": round(self.seconds, 3), "error": self.error, "plan": self.plan,
                "predicted": list(self.graph.nodes), "gold": list(self.sample.gold.nodes),
                "predicted_links": [list(l) for l in self.graph.links],
                "gold_links": [list(l) for l in self.sample.gold.links]}


def plan_graph(graph: TaskGraph, names: ToolNames) -> Graph:
    """A product plan in the metrics' terms: task types as tool names, dependencies as links,
    argument values with `<GENERATED>-k` as the producing tool's name."""
    tool_of = {task.id: names.tool(task.type) for task in graph.tasks}
    nodes = tuple(tool_of[task.id] for task in graph.tasks)
    links = tuple(dict.fromkeys((tool_of[d], tool_of[t.id]) for t in graph.tasks for d in t.dep if d in tool_of))
    args = []
    for task in graph.tasks:
        for arg in task.args.values():
            value = tool_of.get(arg.source, "") if arg.kind == "generated" else arg.value.strip()
            if value:
                args.append((tool_of[task.id], value))
    return Graph(nodes, links, tuple(args))


def run(samples: list[Sample], plan: Callable[[str], TaskGraph], names: ToolNames,
        on_prediction: Callable[[Prediction], None] | None = None) -> list[Prediction]:
    predictions = []
    for sample in samples:
        start = time.perf_counter()
        try:
            graph = plan(sample.instruction)
            prediction = Prediction(sample, plan_graph(graph, names), True, 0.0, graph.to_list())
        except (ValueError, RuntimeError) as error:  # PlanError, JSON errors, ControllerError
            prediction = Prediction(sample, Graph(), False, 0.0, error=str(error))
        prediction.seconds = time.perf_counter() - start
        predictions.append(prediction)
        if on_prediction is not None:
            on_prediction(prediction)
    return predictions


def summarise(predictions: list[Prediction], tools: list[str]) -> dict:
    """Overall figures plus `by_type` (single, chain, dag, and any other type present)."""
    figures = _figures(predictions, tools)
    present = list(dict.fromkeys(p.sample.type for p in predictions))
    kinds = [t for t in SAMPLE_TYPES if t in present] + [t for t in present if t not in SAMPLE_TYPES]
    figures["by_type"] = {kind: _figures([p for p in predictions if p.sample.type == kind], tools)
                          for kind in kinds}
    return figures


def fold_of(sample_id: str, folds: int) -> int:
    """A sample's fold, from a hash of its id: the same on every run and every machine, and
    independent of the file's order."""
    return int(hashlib.sha1(str(sample_id).encode()).hexdigest(), 16) % folds


def by_fold(predictions: list[Prediction], tools: list[str], folds: int) -> dict:
    """Node and link F1 per fold, with their mean and range: how much a figure moves between
    parts of the file, which a change must beat to count as a gain."""
    per_fold = []
    for k in range(folds):
        chosen = [p for p in predictions if fold_of(p.sample.id, folds) == k]
        figures = score([(p.sample.gold, p.graph) for p in chosen], tools) if chosen else {}
        per_fold.append({"fold": k, "n": len(chosen), "node_f1": figures.get("node_f1"),
                         "link_f1": figures.get("link_f1")})
    summary = {"folds": per_fold}
    for key in ("node_f1", "link_f1"):
        values = [f[key] for f in per_fold if f[key] is not None]
        if values:
            summary[key] = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
    return summary


def _figures(predictions: list[Prediction], tools: list[str]) -> dict:
    n = len(predictions)
    figures = score([(p.sample.gold, p.graph) for p in predictions], tools)
    figures["valid_rate"] = sum(p.valid for p in predictions) / n if n else None
    figures["seconds_per_request"] = sum(p.seconds for p in predictions) / n if n else None
    figures["n"] = n
    return figures
