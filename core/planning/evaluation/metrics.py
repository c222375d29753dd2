"""TaskBench's planning metrics, written from their definitions.

All F1 scores pool set memberships over samples: within one sample, a name (or link, or argument
pair) counts once however often it repeats; across samples the counts add up.

- node F1: true positive = a tool in both the gold and the predicted set of the sample. Names
  outside the tool list are counted nowhere (TaskBench encodes them as the negative class).
  Micro pools the counts of all tools; macro averages the per-tool F1 over the tools that occur
  in the gold or predicted plans of the samples scored.
- link F1: the same over (source tool, target tool) pairs, all names counted.
- argument F1: the same over (tool, argument value) pairs, all names counted.
- edit distance: per sample, the insert/delete edit distance between the gold and predicted tool
  sequences divided by their summed length (TaskBench's 1 - Levenshtein ratio), averaged over
  samples; 0 is identical, 1 is nothing in common.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from core.planning.evaluation.taskbench import Graph


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, gold: set, predicted: set) -> None:
        self.tp += len(gold & predicted)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    @property
    def f1(self) -> float | None:
        """None when there is nothing to score (no gold and no predicted items)."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else None


def node_counts(pairs: list[tuple[Graph, Graph]], tools: list[str]) -> dict[str, Counts]:
    listed = set(tools)
    per_tool: dict[str, Counts] = defaultdict(Counts)
    for gold, predicted in pairs:
        gold_set, predicted_set = set(gold.nodes) & listed, set(predicted.nodes) & listed
        for tool in gold_set | predicted_set:
            per_tool[tool].add(gold_set & {tool}, predicted_set & {tool})
    return dict(per_tool)


def micro_f1(per_tool: dict[str, Counts]) -> float | None:
    total = Counts()
    for counts in per_tool.values():
        total.tp, total.fp, total.fn = total.tp + counts.tp, total.fp + counts.fp, total.fn + counts.fn
    return total.f1


def macro_f1(per_tool: dict[str, Counts]) -> float | None:
    scores = [c.f1 for c in per_tool.values() if c.f1 is not None]
    return sum(scores) / len(scores) if scores else None


def pooled_f1(pairs: list[tuple[Graph, Graph]], field: str) -> float | None:
    counts = Counts()
    for gold, predicted in pairs:
        counts.add(set(getattr(gold, field)), set(getattr(predicted, field)))
    return counts.f1


def lcs_length(a: tuple, b: tuple) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def edit_distance(gold: tuple, predicted: tuple) -> float:
    """Insertions plus deletions turning one sequence into the other, over their summed length."""
    total = len(gold) + len(predicted)
    return (total - 2 * lcs_length(gold, predicted)) / total if total else 0.0


def score(pairs: list[tuple[Graph, Graph]], tools: list[str]) -> dict:
    """The figures for (gold, predicted) pairs; an F1 with nothing to score is None."""
    per_tool = node_counts(pairs, tools)
    return {
        "node_f1": micro_f1(per_tool),
        "node_f1_macro": macro_f1(per_tool),
        "link_f1": pooled_f1(pairs, "links"),
        "arg_f1": pooled_f1(pairs, "args"),
        "edit_distance": sum(edit_distance(g.nodes, p.nodes) for g, p in pairs) / len(pairs) if pairs else None,
    }
