"""The catalogue of recommended models, kept as data in `catalogue.json` so it grows by editing
JSON, not code. Expert entries say which task a repo serves; controller entries name one GGUF file
in a repo. The store reads it to label models, the command line to recommend them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CATALOGUE_FILE = Path(__file__).with_name("catalogue.json")
MB = 1_000_000


@dataclass(frozen=True)
class ExpertEntry:
    id: str
    task: str
    description: str
    license: str
    download_bytes: int
    memory_bytes: int
    safetensors: bool


@dataclass(frozen=True)
class ControllerEntry:
    name: str
    repo: str
    file: str
    quantization: str
    params: str
    size_bytes: int
    memory_bytes: int
    license: str
    description: str

    @property
    def id(self) -> str:
        return f"{self.repo}/{self.file}"


@dataclass(frozen=True)
class Catalogue:
    experts: tuple[ExpertEntry, ...]
    controllers: tuple[ControllerEntry, ...]
    task_notes: dict[str, str]

    def tasks(self) -> list[str]:
        return sorted({e.task for e in self.experts})

    def experts_for(self, task: str) -> list[ExpertEntry]:
        return [e for e in self.experts if e.task == task]

    def expert(self, model_id: str) -> ExpertEntry | None:
        """The first entry for a repo id; one repo may serve several tasks (SD 1.5 does two)."""
        wanted = model_id.lower()
        return next((e for e in self.experts if e.id.lower() == wanted), None)

    def controllers_in(self, repo_id: str) -> list[ControllerEntry]:
        wanted = repo_id.lower()
        return [c for c in self.controllers if c.repo.lower() == wanted]

    def controller(self, model_id: str) -> ControllerEntry | None:
        """By `repo/file` or, for a GGUF found outside the Hugging Face cache, by file name."""
        wanted = model_id.lower()
        return next((c for c in self.controllers if wanted in (c.id.lower(), c.file.lower())), None)


def parse_catalogue(raw: dict) -> Catalogue:
    experts = tuple(ExpertEntry(
        id=e["id"], task=e["task"], description=e["description"], license=e.get("license", "unknown"),
        download_bytes=int(e["download_mb"] * MB), memory_bytes=int(e["memory_mb"] * MB),
        safetensors=bool(e["safetensors"])) for e in raw.get("experts", []))
    controllers = tuple(ControllerEntry(
        name=c["name"], repo=c["repo"], file=c["file"], quantization=c["quantization"], params=c["params"],
        size_bytes=int(c["size_mb"] * MB), memory_bytes=int(c["memory_mb"] * MB),
        license=c.get("license", "unknown"), description=c["description"]) for c in raw.get("controllers", []))
    return Catalogue(experts, controllers, dict(raw.get("task_notes", {})))


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    return parse_catalogue(json.loads(CATALOGUE_FILE.read_text(encoding="utf-8")))
