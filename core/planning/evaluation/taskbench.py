"""Loading TaskBench-format data, quirks included.

A sample is reduced to a `Graph`: tool names in plan order, links as (source tool, target tool),
and argument values as (tool, value), where a reference to another node's output is the producing
tool's name. The published data has quirks, all survived here:

- `task_nodes` as a list of nodes, or as an object of steps (`{"step_1": {...}}`);
- `arguments` as a list, a single string, or holding numbers, lists and objects (`{"from": tool}`);
- `<node-j>` references that are 0-based, 1-based, or embedded in a longer text, and references
  written `<output_of_Tool_Name>`;
- tool names outside the tool list, and with odd spacing or underscores;
- links written with `destination` instead of `target`, or with extra keys;
- extra keys on nodes (`output`), blank or broken lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.planning.evaluation.names import ToolNames, tidy

NODE_REF = re.compile(r"<node-(\d+)>")
OUTPUT_OF = re.compile(r"<output_of_([^>]+)>")  # another spelling of a reference: by tool name


@dataclass(frozen=True)
class Graph:
    nodes: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Sample:
    id: str
    type: str
    instruction: str
    gold: Graph


def load_tools(path: Path) -> list[str]:
    """Tool names from a tool_desc.json (`{"nodes": [{"id": ...}]}`) or a bare list."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    nodes = data.get("nodes", []) if isinstance(data, dict) else data
    return [tidy(n["id"] if isinstance(n, dict) else n) for n in nodes if isinstance(n, (dict, str))]


def load_samples(path: Path, names: ToolNames) -> tuple[list[Sample], list[str]]:
    """The usable samples of a JSON-lines file, and one line of explanation per line skipped."""
    samples, skipped = [], []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            samples.append(parse_sample(json.loads(line), names))
        except (ValueError, TypeError, AttributeError) as error:  # JSONDecodeError is a ValueError
            skipped.append(f"line {number}: {error}")
    return samples, skipped


def parse_sample(raw: dict, names: ToolNames) -> Sample:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    instruction = raw.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("no instruction")
    nodes = _nodes(raw.get("task_nodes"))
    tools = tuple(names.canonical(node["task"]) for node in nodes)
    links = tuple(dict.fromkeys(_links(raw.get("task_links"), names)))
    args = tuple(pair for i, node in enumerate(nodes)
                 for pair in _node_args(i, node.get("arguments"), tools, set(links), names))
    return Sample(str(raw.get("id", "")), str(raw.get("type") or "unknown"), instruction,
                  Graph(tools, links, args))


def _nodes(raw) -> list[dict]:
    if isinstance(raw, dict):  # {"step_1": {...}, "step_2": {...}}: steps in written order
        raw = list(raw.values())
    if not isinstance(raw, list):
        raise ValueError("task_nodes is neither a list nor an object of steps")
    nodes = [n for n in raw if isinstance(n, dict) and isinstance(n.get("task"), str) and n["task"].strip()]
    if len(nodes) != len(raw):
        raise ValueError("a task node has no task name")
    return nodes


def _links(raw, names: ToolNames):
    for link in raw if isinstance(raw, list) else []:
        if not isinstance(link, dict):
            continue
        source, target = link.get("source"), link.get("target", link.get("destination"))
        if isinstance(source, str) and isinstance(target, str):
            yield names.canonical(source), names.canonical(target)


def _node_args(index: int, raw, tools: tuple[str, ...], links: set[tuple[str, str]], names: ToolNames):
    values = raw if isinstance(raw, list) else [] if raw is None else [raw]
    for value in values:
        if isinstance(value, dict):  # {"from": "Translation"}: the named tool's output
            value = next(iter(value.values()), "")
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        text = str(value).strip()
        match = NODE_REF.search(text)
        named = OUTPUT_OF.search(text)
        if match is None and named is not None:
            yield tools[index], names.canonical(named.group(1))
            continue
        if match is None:
            if text:
                yield tools[index], text
            continue
        source = resolve_reference(index, int(match.group(1)), tools, links)
        if source is not None:
            yield tools[index], tools[source]


def resolve_reference(index: int, ref: int, tools: tuple[str, ...], links: set[tuple[str, str]]) -> int | None:
    """The node that `<node-ref>` in node `index` names. Most data is 0-based, some 1-based: of the
    two readings that name another node, the one backed by a gold link wins, else the 0-based one.
    A reference that can only name the node itself is dropped, as TaskBench does."""
    readings = [j for j in (ref, ref - 1) if 0 <= j < len(tools) and j != index]
    linked = [j for j in readings if (tools[j], tools[index]) in links]
    return (linked or readings or [None])[0]
