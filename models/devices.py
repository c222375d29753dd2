"""Where a model runs: the GPU when one is present, else the CPU."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    device: str  # "cuda", "cuda:1", "cpu"
    dtype: str  # "float16", "bfloat16", "float32"

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


def choose_placement(prefer: str = "auto") -> Placement:
    import torch

    if prefer != "cpu" and torch.cuda.is_available():
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return Placement("cuda", dtype)
    return Placement("cpu", "float32")
