"""Where a model runs, decided from its estimated size and the memory each device has.

- a GPU when one is present and the model fits on one (float16, or bfloat16 where supported);
- a diffusion pipeline too big for one GPU: diffusers' model CPU offload (each component moves to
  the GPU only while it runs);
- any other model too big for one GPU: accelerate's `device_map="auto"` with `max_memory`, which
  spreads the layers over the GPUs and the CPU;
- the CPU (float32) otherwise, or when the settings say "cpu".

`decide` is pure (numbers in, placement out) so the GPU branches are tested without a GPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)

SINGLE, SPLIT, OFFLOAD = "single", "split", "offload"


@dataclass(frozen=True)
class Placement:
    device: str  # where inputs go: "cuda", "cuda:1", "cpu"
    dtype: str  # "float16", "bfloat16", "float32"
    strategy: str = SINGLE  # SINGLE: whole model on `device`; SPLIT: device_map="auto"; OFFLOAD: CPU offload
    max_memory: dict = field(default_factory=dict, hash=False)  # SPLIT only: {0: bytes, "cpu": bytes}

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    @property
    def gpu_index(self) -> int:
        return int(self.device.split(":")[1]) if ":" in self.device else 0

    def load_kwargs(self) -> dict:
        """Keyword arguments for a transformers `from_pretrained`: accelerate puts the weights
        straight on their device, so a GPU model never passes through RAM whole."""
        kwargs = {"dtype": self.torch_dtype()}
        if self.strategy == SPLIT:
            kwargs.update(device_map="auto", max_memory=dict(self.max_memory))
        elif self.device != "cpu":
            kwargs["device_map"] = {"": f"cuda:{self.gpu_index}"}
        return kwargs

    def place_pipeline(self, pipeline):
        """Move a diffusers pipeline where it runs."""
        if self.strategy == OFFLOAD:
            pipeline.enable_model_cpu_offload(gpu_id=self.gpu_index)
        else:
            pipeline.to(self.device)
        return pipeline

    def memory_use(self, components: dict[str, int]) -> dict[str, int]:
        """Bytes this placement takes per device ("cpu", "cuda:0"...), given the model's components."""
        total = sum(components.values())
        if self.device == "cpu":
            return {"cpu": total}
        gpu = f"cuda:{self.gpu_index}"
        if self.strategy == OFFLOAD:  # everything stays in RAM; the largest part visits the GPU
            return {"cpu": total, gpu: max(components.values(), default=0)}
        if self.strategy == SPLIT:
            use, left = {}, total
            for key, capacity in self.max_memory.items():
                name = "cpu" if key == "cpu" else f"cuda:{key}"
                part = min(left, capacity)
                if part:
                    use[name] = part
                left -= part
            return use
        return {gpu: total}


@dataclass(frozen=True)
class GpuInfo:
    count: int
    bf16: bool


def gpu_info() -> GpuInfo:
    import torch

    if not torch.cuda.is_available():
        return GpuInfo(0, False)
    return GpuInfo(torch.cuda.device_count(), torch.cuda.is_bf16_supported())


def gpu_dtype(bf16: bool) -> str:
    return "bfloat16" if bf16 else "float16"


def decide(prefer: str, gpus: GpuInfo, bytes_for: Callable[[str], int], free: dict[str, int],
           pipeline: bool = False) -> Placement:
    """Pick a placement.

    `bytes_for(dtype)` is the model's estimated size in that dtype; `free` the bytes each device
    can still give to experts once least-recently-used models are unloaded ("cpu", "cuda:0"...).
    """
    cpu = Placement("cpu", "float32")
    if prefer == "cpu" or gpus.count == 0:
        if prefer.startswith("cuda"):
            log.warning("the expert device is set to %s but no CUDA GPU is available; using the CPU", prefer)
        return cpu
    dtype = gpu_dtype(gpus.bf16)
    need = bytes_for(dtype)
    gpu_free = {i: free.get(f"cuda:{i}", 0) for i in range(gpus.count)}
    if prefer.startswith("cuda:"):  # the person named one GPU: only that one is considered
        index = int(prefer.split(":")[1])
        if index in gpu_free:
            gpu_free = {index: gpu_free[index]}
        else:
            log.warning("the expert device is set to %s but there is no such GPU; using any GPU", prefer)
    best = max(gpu_free, key=gpu_free.get)
    if need <= gpu_free[best]:
        return Placement("cuda" if best == 0 else f"cuda:{best}", dtype)
    first = min(gpu_free)
    if pipeline:
        return Placement("cuda" if first == 0 else f"cuda:{first}", dtype, OFFLOAD)
    if need <= sum(gpu_free.values()) + free.get("cpu", 0):
        max_memory = {i: room for i, room in sorted(gpu_free.items()) if room > 0}
        max_memory["cpu"] = free.get("cpu", 0)
        return Placement("cuda" if first == 0 else f"cuda:{first}", dtype, SPLIT, max_memory)
    return cpu  # fits nowhere: the runtime's budget check says so in plain words


def device_capacity() -> dict[str, int]:
    """Total memory of each device: RAM as "cpu", each GPU as "cuda:N"."""
    import psutil

    capacity = {"cpu": psutil.virtual_memory().total}
    import torch

    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            capacity[f"cuda:{index}"] = torch.cuda.get_device_properties(index).total_memory
    return capacity
