"""Stage 2, model selection: one installed model (or the controller itself) per task.

One candidate is taken directly. Several are ranked by the provider (best first) and the top few
are shown to the controller, which picks one with a reason. Text tasks HuggingGPT lets the LLM do
fall back to the controller when no expert is installed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from common.cancel import CancelToken
from core.experts import ExpertProvider, ExpertsUnavailable
from core.llm.controller import Controller, ControllerError
from core.plan import Task
from core.templates import template

log = logging.getLogger(__name__)

CONTROLLER_MODEL = "controller"  # the model id used when the controller LLM does a task itself
MAX_CHOICES = 4


@dataclass
class Selection:
    task_id: int
    task: str
    model: str  # "" when nothing can do the task
    reason: str
    candidates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.task_id, "task": self.task, "model": self.model, "reason": self.reason,
                "candidates": self.candidates}

    @classmethod
    def from_dict(cls, data: dict) -> "Selection":
        return cls(data["id"], data.get("task", ""), data.get("model", ""), data.get("reason", ""),
                   list(data.get("candidates") or []))


class Selector:
    def __init__(self, controller: Controller, experts: ExpertProvider) -> None:
        self.controller = controller
        self.experts = experts

    def select(self, task: Task, request: str, cancel: CancelToken | None = None) -> Selection:
        try:
            candidates = self.experts.candidates(task.type)
        except ExpertsUnavailable as error:  # this task fails with the reason; the others still run
            return Selection(task.id, task.type, "", str(error))
        ids = [c.id for c in candidates]
        if not candidates:
            if task.task_type.controller_fallback:
                return Selection(task.id, task.type, CONTROLLER_MODEL,
                                 f"no {task.type} expert is installed; the controller LLM "
                                 f"({self.controller.name}) does this text task itself")
            return Selection(task.id, task.type, "",
                             f"no installed model can do {task.type}; install one in the model manager")
        if len(candidates) == 1:
            return Selection(task.id, task.type, ids[0], f"the only installed {task.type} model", ids)
        return self._ask_controller(task, request, candidates[:MAX_CHOICES], ids, cancel)

    def _ask_controller(self, task, request, shortlist, ids, cancel) -> Selection:
        listing = "\n".join(f"- {c.id}: {c.description or 'no description'}" for c in shortlist)
        messages = [
            {"role": "system", "content": template("selection").substitute()},
            {"role": "user", "content": f"Request: {request}\nTask: {task.type} with inputs "
                                        f"{ {k: a.to_raw() for k, a in task.args.items()} }\nModels:\n{listing}"},
        ]
        schema = {"type": "object",
                  "properties": {"id": {"enum": [c.id for c in shortlist]},
                                 "reason": {"type": "string", "maxLength": 160}},
                  "required": ["id", "reason"], "additionalProperties": False}
        try:
            choice = self.controller.chat(messages, schema=schema, max_tokens=120, cancel=cancel).json()
            return Selection(task.id, task.type, choice["id"], choice["reason"].strip() or "chosen by the controller", ids)
        except (ValueError, KeyError, ControllerError) as error:
            # The ranking is a sound choice on its own; a confused controller must not fail the task.
            log.warning("model selection by the controller failed (%s); taking the top-ranked model", error)
            return Selection(task.id, task.type, shortlist[0].id,
                             "top-ranked installed model (the controller gave no usable choice)", ids)
