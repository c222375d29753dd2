"""How much memory a model folder needs once loaded, read from its weight files without loading them.

safetensors headers give every tensor's dtype and shape, so the estimate follows the dtype the
model will be loaded in (float16 weights loaded as float32 on a CPU take twice their file size).
Pickle weights have no readable header: their file size is scaled as if they were float32.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from models.formats import FormatError, check_safetensors

# Working memory beyond the weights (activations, buffers, allocator slack), as a fraction of them.
OVERHEAD = 0.2
ITEM_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
              "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
FLOAT_TYPES = {"F64", "F32", "F16", "BF16"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass
class WeightSize:
    """Bytes of weights per component ("" for a plain model folder, the subfolder for a pipeline),
    kept as (floating-point elements, other bytes) so any dtype can be priced later."""

    float_elements: dict[str, int] = field(default_factory=dict)
    fixed_bytes: dict[str, int] = field(default_factory=dict)

    def add(self, component: str, float_elements: int, fixed: int) -> None:
        self.float_elements[component] = self.float_elements.get(component, 0) + float_elements
        self.fixed_bytes[component] = self.fixed_bytes.get(component, 0) + fixed

    def components(self, dtype: str) -> dict[str, int]:
        """Estimated bytes per component when loaded in `dtype`, working memory included."""
        width = DTYPE_BYTES[dtype]
        return {name: int((self.float_elements[name] * width + self.fixed_bytes[name]) * (1 + OVERHEAD))
                for name in self.float_elements}

    def total(self, dtype: str) -> int:
        return sum(self.components(dtype).values())


def weight_files(folder: Path, allow_pickle: bool = False) -> list[Path]:
    """The files a loader would read: safetensors where present, else pickle if allowed.

    A component (folder) holding both a full and a variant copy (`*.fp16.safetensors`) counts
    only the full one, which is what loads without `variant=`.
    """
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    chosen: list[Path] = []
    for component in sorted({p.parent for p in folder.rglob("*") if p.is_file()}):
        files = sorted(p for p in component.iterdir() if p.is_file())
        safe = [p for p in files if p.suffix == ".safetensors"]
        pickled = [p for p in files if p.suffix in PICKLE_SUFFIXES] if allow_pickle else []
        picked = safe or pickled
        plain = [p for p in picked if len(p.suffixes) == 1]  # "model.fp16.safetensors" has two
        chosen.extend(plain or picked)
    return chosen


def read_header(path: Path) -> dict:
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    return header


def estimate(folder: Path, allow_pickle: bool = False) -> WeightSize:
    """Raise FormatError for a cut-short or unreadable safetensors file, or a folder with no weights."""
    folder = Path(folder)
    files = weight_files(folder, allow_pickle)
    if not files:
        raise FormatError(f"no weight files (*.safetensors) in {folder}")
    size = WeightSize()
    for path in files:
        component = "" if folder.is_file() or path.parent == folder else path.parent.relative_to(folder).parts[0]
        if path.suffix == ".safetensors":
            check_safetensors(path)
            floats = fixed = 0
            for info in read_header(path).values():
                elements = 1
                for dim in info["shape"]:
                    elements *= dim
                if info["dtype"] in FLOAT_TYPES:
                    floats += elements
                else:
                    fixed += elements * ITEM_BYTES.get(info["dtype"], 4)
            size.add(component, floats, fixed)
        else:
            size.add(component, path.stat().st_size // 4, 0)
    return size
