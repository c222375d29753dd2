"""What a new user is offered on first start: what this machine has, a starter set of models
from the catalogue that fits it, and example requests that work with what is installed now.

Pure functions of the catalogue, the installed records and a `Machine`, so the choice is tested
on made-up machines; `this_machine` reads the real one (torch only if it is already imported:
the window asks again once the background warm-up has loaded it).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from models.catalogue import Catalogue, ControllerEntry, ExpertEntry

GB = 1_000_000_000
# What a first set should cover: seeing, hearing, speaking and the common text tasks. Picture
# generation joins only with a GPU: on a CPU it takes minutes per image.
STARTER_TASKS = ("image-to-text", "object-detection", "visual-question-answering", "automatic-speech-recognition",
                 "text-to-speech", "translation", "summarization")
GPU_TASKS = ("text-to-image",)
# On a CPU the controller's size is what a plan waits for: about 0.5B parameters (Qwen2.5 0.5B
# plans in about 6 s on 2 cores, README) unless there are cores to spare. With a GPU the weights
# and contexts should leave half the card to the experts.
CPU_CONTROLLER_BYTES = 1 * GB
MANY_CORES, MANY_CORES_CONTROLLER_BYTES = 8, 2 * GB
GPU_CONTROLLER_SHARE = 0.5
# Experts together may take this share of the RAM (the rest is the system's, the controller's).
EXPERT_RAM_SHARE = 0.5

EXAMPLES = {
    "sentence-similarity": "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?",
    "canny-control": "Outline the edges of the picture I attach.",
    "image-to-text": "Describe the picture I attach.",
    "object-detection": "What objects are in the photo I attach? Draw boxes around them.",
    "visual-question-answering": "How many people are in the photo I attach?",
    "automatic-speech-recognition": "Transcribe the recording I attach.",
    "text-to-speech": "Say 'Good morning, everyone' out loud.",
    "translation": "Translate 'Where is the railway station?' into French.",
    "summarization": "Summarize: 'The council agreed on Monday to fund the new park; work starts in spring.'",
    "text-to-image": "Draw a lighthouse on a cliff at sunset.",
}


@dataclass(frozen=True)
class Machine:
    ram_bytes: int
    ram_free_bytes: int
    disk_free_bytes: int
    gpus: tuple[tuple[str, int], ...] = ()  # (name, memory in bytes) per CUDA device
    gpus_known: bool = True  # False until torch is loaded and could be asked
    cores: int = 1

    def describe(self) -> str:
        gpus = ("GPUs: " + ", ".join(f"{name} ({vram / GB:.0f} GB)" for name, vram in self.gpus) if self.gpus
                else "no CUDA GPU" if self.gpus_known else "GPUs: checking...")
        return (f"{self.cores} CPU cores, {self.ram_bytes / GB:.0f} GB RAM ({self.ram_free_bytes / GB:.0f} GB free), {gpus}, "
                f"{self.disk_free_bytes / GB:.0f} GB free disk")


def this_machine(data_path: Path) -> Machine:
    import psutil

    from models.record import free_bytes

    memory = psutil.virtual_memory()
    gpus: tuple[tuple[str, int], ...] = ()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        gpus = tuple((torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory)
                     for i in range(torch.cuda.device_count()))
    try:
        disk = free_bytes(data_path)
    except OSError:
        disk = shutil.disk_usage(Path.home()).free
    return Machine(memory.total, memory.available, disk, gpus, gpus_known=torch is not None,
                   cores=os.cpu_count() or 1)


@dataclass(frozen=True)
class Recommendation:
    controller: ControllerEntry | None
    experts: tuple[ExpertEntry, ...] = field(default_factory=tuple)

    @property
    def ids(self) -> list[str]:
        return ([self.controller.id] if self.controller else []) + [e.id for e in self.experts]

    @property
    def download_bytes(self) -> int:
        return (self.controller.size_bytes if self.controller else 0) + sum(e.download_bytes for e in self.experts)

    @property
    def memory_bytes(self) -> int:
        return (self.controller.memory_bytes if self.controller else 0) + sum(e.memory_bytes for e in self.experts)


def recommend(catalogue: Catalogue, machine: Machine, installed_ids: set[str], installed_tasks: set[str],
              has_better_controller: bool = False) -> Recommendation:
    """The largest controller that fits (unless one better than the default is installed), and
    for each starter task nobody installed yet its smallest catalogue model, while the set fits
    the disk and its share of the memory."""
    largest_gpu = max((vram for _, vram in machine.gpus), default=0)
    controller = None
    if not has_better_controller:
        cpu_limit = MANY_CORES_CONTROLLER_BYTES if machine.cores >= MANY_CORES else CPU_CONTROLLER_BYTES
        limit = largest_gpu * GPU_CONTROLLER_SHARE if largest_gpu else min(cpu_limit, machine.ram_bytes / 8)
        fitting = [c for c in catalogue.controllers if c.memory_bytes <= limit and c.id not in installed_ids
                   and c.size_bytes <= machine.disk_free_bytes]
        controller = max(fitting, key=lambda c: c.memory_bytes, default=None)
    disk_left = machine.disk_free_bytes - (controller.size_bytes if controller else 0)
    memory_left = machine.ram_bytes * EXPERT_RAM_SHARE
    experts = []
    for task in STARTER_TASKS + (GPU_TASKS if largest_gpu >= 6 * GB else ()):
        if task in installed_tasks:
            continue
        options = sorted((e for e in catalogue.experts_for(task) if e.id not in installed_ids),
                         key=lambda e: e.download_bytes)
        chosen = next((e for e in options if e.download_bytes <= disk_left and e.memory_bytes <= memory_left), None)
        if chosen is not None and chosen.id not in {e.id for e in experts}:
            experts.append(chosen)
            disk_left -= chosen.download_bytes
            memory_left -= chosen.memory_bytes
    return Recommendation(controller, tuple(experts))


def examples(installed_tasks: set[str]) -> list[str]:
    """Requests that the installed models can answer, in the order of EXAMPLES."""
    return [text for task, text in EXAMPLES.items() if task in installed_tasks]


@dataclass(frozen=True)
class FirstRun:
    """What the welcome page shows."""
    machine: Machine
    controller: str  # the controller in use, by name
    experts: tuple[str, ...]  # installed expert ids
    tasks: tuple[str, ...]  # the task types they (and the built-in runners) can do
    recommendation: Recommendation
    examples: tuple[str, ...]


def first_run(settings) -> FirstRun:
    """Reads the store, the catalogue and the machine: seconds at most, off the GUI thread."""
    from app.wiring import controller_path
    from models.catalogue import load_catalogue
    from models.runners import builtin_records
    from models.store import LocalStore

    records = [r for r in LocalStore(settings.data_path).list() if r.complete]
    experts = [r for r in records if r.task != "controller"]
    tasks = {r.task for r in experts} | {r.task for r in builtin_records()}
    installed = {r.id for r in records}
    better = bool(settings.controller_url or settings.controller_path)  # the person chose one
    controller = settings.controller_url or controller_path(settings).name
    machine = this_machine(settings.data_path)
    recommendation = recommend(load_catalogue(), machine, installed, tasks, better)
    return FirstRun(machine, controller, tuple(sorted(r.id for r in experts)),
                    tuple(sorted(tasks)), recommendation, tuple(examples(tasks)))
