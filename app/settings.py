"""User settings, saved as JSON in the platform's config folder, written atomically.

Typed and checked by pydantic (strict: "2" is not a number, 1e400 is not a size): a bad value in
settings.json is reported with its key and the file, and its default is used; the others stay.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, field, fields
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass

log = logging.getLogger(__name__)
APP = "jarvis-desktop"


def config_dir() -> Path:
    if os.environ.get("JARVIS_CONFIG_DIR"):
        return Path(os.environ["JARVIS_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or (Path.home() / ".config")
    return Path(base) / APP


def default_data_dir() -> Path:
    if os.environ.get("JARVIS_DATA_DIR"):
        return Path(os.environ["JARVIS_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or (Path.home() / ".local" / "share")
    return Path(base) / APP


@dataclass(config=ConfigDict(strict=True, allow_inf_nan=False))
class Settings:
    controller_path: str = ""  # empty: the default GGUF installed by set-up
    n_ctx: Annotated[int, Field(ge=256, le=1 << 20)] = 4096
    n_threads: Annotated[int, Field(ge=0, le=4096)] = 0  # 0: all cores
    n_gpu_layers: Annotated[int, Field(ge=-1, le=1 << 16)] = -1  # -1: all layers on the GPU when llama.cpp has one
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:[0-9]{1,2})?)$")] = "auto"  # auto, cpu, cuda, cuda:N
    memory_budget_gb: Annotated[float, Field(ge=0, le=1 << 20)] = 0.0  # 0: no budget beyond what the machine has
    data_dir: str = ""  # empty: the platform's data folder
    allow_downloads: bool = False
    # Models allowed to load pickle weights (which can run code when loaded), by id.
    allow_pickle_models: list[str] = field(default_factory=list)
    # A shared OpenAI-compatible server instead of the local GGUF (empty: run the GGUF in-process).
    # Requests and results go to that server: see the README.
    controller_url: str = ""
    controller_model: str = ""  # empty: the first model the server lists
    controller_api_key: str = ""
    # Experts on a cluster (`main.py experts serve`) instead of in this process (empty: here).
    # Inputs and outputs of every task go to that host: see the README.
    experts_url: str = ""
    # How the planner uses the request's steps: "listed" (listed first, one task each), "inline"
    # (written before each task), "off", or "auto" (listed: better plans for every controller
    # measured; README, Planning quality).
    plan_steps: Literal["auto", "listed", "clauses", "inline", "off"] = "auto"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else default_data_dir()

    @classmethod
    def load(cls) -> "Settings":
        """The saved settings; each problem is logged as one warning (the window's Log shows them)."""
        settings, problems = cls.load_checked()
        for problem in problems:
            log.warning("%s", problem)
        return settings

    @classmethod
    def load_checked(cls) -> "tuple[Settings, list[str]]":
        """The saved settings and one line per value that could not be used (its default is)."""
        path = config_dir() / "settings.json"
        if not path.exists():
            return cls(), []
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            return cls(), [f"settings file {path} is unreadable ({error}); using the defaults"]
        if not isinstance(raw, dict):
            return cls(), [f"settings file {path} holds a JSON {type(raw).__name__}, not an object; using the defaults"]
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        try:
            return cls(**values), []
        except ValidationError as error:
            problems, bad = [], set()
            for item in error.errors():
                key = str(item["loc"][0]) if item["loc"] else "?"
                bad.add(key)
                shown = json.dumps(values.get(key), ensure_ascii=True, default=str)[:60]
                problems.append(f"{path}: {key} = {shown}: {item['msg']}; using the default")
            return cls(**{k: v for k, v in values.items() if k not in bad}), problems

    def save(self) -> Path:
        folder = config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "settings.json"
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(temp, path)
        return path
