"""What travels between a desktop and the expert service: JSON with files as base64, both ways.

Inputs are slot -> {"text": ...} or {"file": name, "data": base64}; outputs the runner's own
dict, with each file output ("image", "audio", "video") replaced by {"file", "data"}. Sizes are
bounded on both sides so a huge or hostile body fails one task with a message instead of filling
memory.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

MAX_BODY_BYTES = 256 * 2**20  # one request or reply, base64 included
FILE_OUTPUTS = ("image", "audio", "video")
MODEL_HEADER = "serve_multiplexed_model_id"  # Ray Serve routes a model's requests to a replica holding it


class WireError(ValueError):
    """A body that is not what the other side sends."""


def multiplexed_id(model_id: str, task: str) -> str:
    return f"{task}::{model_id}"


def split_multiplexed_id(value: str) -> tuple[str, str]:
    task, _, model_id = value.partition("::")
    if not task or not model_id:
        raise WireError(f"not a task::model id: {value!r}")
    return model_id, task


def pack_file(path: Path) -> dict:
    return {"file": Path(path).name, "data": base64.b64encode(Path(path).read_bytes()).decode("ascii")}


def unpack_file(packed: dict, folder: Path) -> Path:
    """Write a packed file into `folder` under its own base name (never a path of the sender's)."""
    name = Path(str(packed.get("file") or "file")).name
    if name in ("", ".", ".."):
        name = "file"
    try:
        data = base64.b64decode(str(packed.get("data", "")), validate=True)
    except (binascii.Error, ValueError) as error:
        raise WireError(f"file {name!r} is not valid base64") from error
    folder.mkdir(parents=True, exist_ok=True)
    target, number = folder / name, 1
    while target.exists():  # never over a file already there (an earlier task's output)
        target = folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
        number += 1
    target.write_bytes(data)
    return target


def pack_inputs(inputs: dict[str, str]) -> dict[str, dict]:
    """File inputs (absolute paths that exist) travel as bytes; the rest as text."""
    packed = {}
    for slot, value in inputs.items():
        path = Path(value)
        packed[slot] = pack_file(path) if path.is_absolute() and path.is_file() else {"text": value}
    return packed


def unpack_inputs(packed: dict, folder: Path) -> dict[str, str]:
    if not isinstance(packed, dict):
        raise WireError("inputs must be an object")
    inputs = {}
    for slot, value in packed.items():
        if not isinstance(value, dict):
            raise WireError(f"input {slot!r} must be an object")
        inputs[str(slot)] = str(unpack_file(value, folder)) if "file" in value else str(value.get("text", ""))
    return inputs


def pack_outputs(outputs: dict) -> dict:
    packed = dict(outputs)
    for key in FILE_OUTPUTS:
        value = outputs.get(key)
        if isinstance(value, str) and Path(value).is_file():
            packed[key] = pack_file(Path(value))
    return packed


def unpack_outputs(packed: dict, folder: Path) -> dict:
    outputs = dict(packed)
    for key in FILE_OUTPUTS:
        if isinstance(packed.get(key), dict):
            outputs[key] = str(unpack_file(packed[key], folder))
    return outputs
