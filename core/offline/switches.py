"""Offline by default: the Hugging Face libraries read these switches when they are imported."""

from __future__ import annotations

import os

OFFLINE_SWITCHES = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DISABLE_TELEMETRY": "1",  # diffusers
    "DO_NOT_TRACK": "1",
}


def enforce_offline_env() -> None:
    """Call before anything imports huggingface_hub, transformers or diffusers."""
    os.environ.update(OFFLINE_SWITCHES)
