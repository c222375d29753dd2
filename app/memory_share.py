"""How the one memory budget is shared between the controller and the experts, for display
before anything is loaded (the Models page's column, `models list`).

While the app runs, the controller's real share is reserved in the expert runtime
(`app.wiring.share_budget`); this is the same figure estimated from the GGUF's metadata, so a
person sees what an expert will have room for before the controller has loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import Settings
from core.llm.controller import KV_SHAPE_KEYS, ControllerError, kv_cache_bytes

# On CPU the planner, its step listing and the answer each keep a llama.cpp context (their
# prompts' prefixes stay warm), sharing one memory-mapped copy of the weights.
CONTEXTS_PER_TURN = 3


@dataclass(frozen=True)
class MemoryShare:
    budget_bytes: int  # RAM for experts and the controller together
    controller_bytes: int  # the controller's expected share of it (0 for a server controller)
    controller_name: str

    @property
    def experts_bytes(self) -> int:
        return max(0, self.budget_bytes - self.controller_bytes)

    def describe(self, human) -> str:
        if not self.controller_bytes:
            return f"Memory for experts: {human(self.budget_bytes)}"
        return (f"Memory for experts: {human(self.experts_bytes)} of {human(self.budget_bytes)} "
                f"(the controller {self.controller_name} takes about {human(self.controller_bytes)} while loaded)")


def budget_bytes(settings: Settings) -> int:
    if settings.memory_budget_gb:
        return int(settings.memory_budget_gb * 2**30)
    import psutil

    from models.runtime import DEFAULT_SHARE  # the runtime's own default, so both say the same

    return int(psutil.virtual_memory().total * DEFAULT_SHARE)


def controller_bytes(settings: Settings) -> tuple[int, str]:
    """The local controller's weights plus its contexts' KV caches, and its file name; (0, url)
    for a server controller, and (0, "") when there is no readable controller GGUF."""
    if settings.controller_url:
        return 0, settings.controller_url
    from app.wiring import controller_path
    from models.formats import FormatError, leading_metadata

    try:
        path = controller_path(settings)
        shape = leading_metadata(path, KV_SHAPE_KEYS)
        size = path.stat().st_size
    except (ControllerError, FormatError, OSError):
        return 0, ""
    return size + CONTEXTS_PER_TURN * kv_cache_bytes(shape, settings.n_ctx), path.name


def memory_share(settings: Settings) -> MemoryShare:
    nbytes, name = controller_bytes(settings)
    return MemoryShare(budget_bytes(settings), nbytes, name)
