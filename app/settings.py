"""User settings, saved as JSON in the platform's config folder, written atomically."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

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


@dataclass
class Settings:
    controller_path: str = ""  # empty: the default GGUF installed by set-up
    n_ctx: int = 4096
    n_threads: int = 0  # 0: all cores
    n_gpu_layers: int = -1  # -1: all layers on the GPU when llama.cpp has one
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    memory_budget_gb: float = 0.0  # 0: no budget beyond what the machine has
    data_dir: str = ""  # empty: the platform's data folder
    allow_downloads: bool = False
    # Models allowed to load pickle weights (which can run code when loaded), by id.
    allow_pickle_models: list = field(default_factory=list)
    # A shared OpenAI-compatible server instead of the local GGUF (empty: run the GGUF in-process).
    # Requests and results go to that server: see the README.
    controller_url: str = ""
    controller_model: str = ""  # empty: the first model the server lists
    controller_api_key: str = ""
    # How the planner uses the request's steps: "listed" (listed first, one task each), "inline"
    # (written before each task), "off", or "auto" (listed for controllers of 0.5B parameters and
    # up, off below: the 135M default plans better without them; README, Planning quality).
    plan_steps: str = "auto"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else default_data_dir()

    @classmethod
    def load(cls) -> "Settings":
        path = config_dir() / "settings.json"
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("settings file %s is unreadable (%s); using defaults", path, error)
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self) -> Path:
        folder = config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "settings.json"
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(temp, path)
        return path
