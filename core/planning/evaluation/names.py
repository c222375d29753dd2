"""TaskBench tool names ("Sentence Similarity", "Image-to-Text") <-> the catalogue's task types.

Every tool of the Hugging Face domain is a catalogue type under the catalogue's own name
normalisation, so the mapping is derived, not tabled: a renamed catalogue type shows up as a failed
round trip in the tests instead of as a silent miss in the scores.
"""

from __future__ import annotations

from core.tasks import TASK_TYPES, TaskType, get_task_type, normalise_task_name


def tidy(name: str) -> str:
    """Whitespace and underscores tidied, as TaskBench does before comparing names."""
    return " ".join(str(name).replace("_", " ").split())


class ToolNames:
    def __init__(self, tools: list[str]) -> None:
        self.tools = list(dict.fromkeys(tidy(t) for t in tools))
        self._by_key = {normalise_task_name(t): t for t in self.tools}
        self._by_type: dict[str, str] = {}
        for tool in self.tools:
            task_type = get_task_type(tool)
            if task_type is not None:
                self._by_type.setdefault(task_type.name, tool)

    def canonical(self, name: str) -> str:
        """The tool list's spelling of `name` ('text_to_speech' -> 'Text-to-Speech'); a name outside
        the list is only tidied, so it stays visible (and unmatched) in the scores."""
        return self._by_key.get(normalise_task_name(str(name)), tidy(name))

    def known(self, name: str) -> bool:
        return name in self._by_key.values()

    def task_type(self, tool: str) -> str | None:
        """The catalogue type a tool is planned as, or None for a name outside the catalogue."""
        task_type = get_task_type(self.canonical(tool))
        return task_type.name if task_type else None

    def tool(self, task_type: str) -> str:
        """The tool a planned task type is scored as; a type with no tool keeps a readable name of
        its own, which matches no gold node."""
        return self._by_type.get(task_type) or " ".join(w.capitalize() for w in task_type.split("-"))

    def task_types(self) -> tuple[TaskType, ...]:
        """The catalogue restricted to the tool set, in catalogue order: what the planner may use."""
        return tuple(t for t in TASK_TYPES if t.name in self._by_type)

    def unmapped(self) -> list[str]:
        return [t for t in self.tools if get_task_type(t) is None]
