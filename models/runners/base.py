"""The runner contract and what every runner shares: loading through the placement, moving inputs
to the model's device and dtype, stopping generation on cancel, and labels as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from common.cancel import CancelToken
from common.progress import report
from models.devices import Placement


# Weights a checkpoint may lack without harm: buffers rebuilt at load, and poolers that
# encoder-decoder and per-token models never read.
UNUSED_WEIGHTS = ("position_ids", "num_batches_tracked", "pooler.")


class ExpertError(RuntimeError):
    """A model cannot run; the message says why in plain words."""


class WrongTaskError(ExpertError):
    """The folder holds a model, but not one that can do the task asked of it."""


def quiet_libraries() -> None:
    """No per-load progress bars or warnings on the terminal: the app reports progress itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        from diffusers.utils import logging as diffusers_logging
    except ImportError:  # pragma: no cover - diffusers is a dependency, but only diffusion runners need it
        return
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()


class Runner:
    """Load a model folder once (`load`), then run it many times (`run`).

    `run(task, inputs, workdir, cancel)` gets inputs keyed by the task's slot names (file inputs
    as absolute paths) and returns outputs keyed by kind: "text" (always, a short readable
    summary), "labels", "boxes", "score", and artifact paths "image" / "audio" inside `workdir`.
    """

    tasks: ClassVar[tuple[str, ...]] = ()
    pipeline: ClassVar[bool] = False  # a diffusers pipeline (placed with CPU offload when too big)
    # Installed models of these tasks also serve this runner's (a depth-estimation model makes
    # depth control maps), besides models recorded for its own tasks.
    model_tasks: ClassVar[tuple[str, ...]] = ()
    # False for a runner with no model (computed in code): the runtime offers it as the built-in
    # model `builtin_id`, which needs no files and no memory budget.
    needs_model: ClassVar[bool] = True
    builtin_id: ClassVar[str] = ""
    builtin_description: ClassVar[str] = ""

    def __init__(self, path: Path, placement: Placement) -> None:
        self.path = Path(path)
        self.placement = placement
        self.use_safetensors = True  # the runtime lowers this only for models allowed to use pickle

    def load(self) -> None:
        raise NotImplementedError

    def run(self, task: str, inputs: dict[str, str], workdir: Path, cancel: CancelToken) -> dict[str, Any]:
        raise NotImplementedError

    def unload(self) -> None:
        """Drop every reference to the model and its processors so their memory can be freed."""
        for name in list(vars(self)):
            if name not in ("path", "placement", "use_safetensors"):
                delattr(self, name)

    # -- helpers for subclasses ------------------------------------------------------------------

    def load_model(self, auto_class, **kwargs):
        """`auto_class.from_pretrained` with the placement's dtype and device map, refusing a
        model whose architecture or weights do not fit the task (a random head would run but
        answer nonsense)."""
        self._not_a_pipeline()
        try:
            model, info = auto_class.from_pretrained(
                self.path, use_safetensors=self.use_safetensors, output_loading_info=True,
                **self.placement.load_kwargs(), **kwargs)
        except ValueError as error:
            if "Unrecognized configuration class" in str(error) or "Unrecognized model" in str(error):
                kind = _model_type(self.path)
                raise WrongTaskError(f"it is a {kind} model, made for another task") from error
            raise
        missing = [key for key in info.get("missing_keys", []) if not any(part in key for part in UNUSED_WEIGHTS)]
        if missing:
            raise WrongTaskError(f"its weights lack {len(missing)} tensors this task needs "
                                 f"(e.g. {', '.join(sorted(missing)[:3])}), so it was trained for another task")
        return model.eval()  # already on its device: `load_kwargs` placed it

    def read_config(self):
        """The transformers config, for runners that choose a model class from it."""
        from transformers import AutoConfig

        self._not_a_pipeline()
        return AutoConfig.from_pretrained(self.path)

    def _not_a_pipeline(self) -> None:
        if not (self.path / "config.json").is_file() and (self.path / "model_index.json").is_file():
            raise WrongTaskError("it is a diffusers pipeline, not a transformers model")

    def to_model(self, batch, model) -> dict:
        """Tensors to the model's device; floating-point ones also to its dtype (half on a GPU)."""
        dtype = getattr(model, "dtype", None)
        moved = {}
        for key, value in dict(batch).items():
            if hasattr(value, "to"):
                value = value.to(self.placement.device, dtype) if value.is_floating_point() and dtype \
                    else value.to(self.placement.device)
            moved[key] = value
        return moved

    def generate(self, batch: dict, cancel: CancelToken, limit: int, **kwargs):
        """`model.generate` on the model's device, at most `limit` new tokens (fewer if the
        model's own generation config says so), stopping at the next token once cancelled."""
        import torch

        configured = getattr(self.model.generation_config, "max_new_tokens", None)
        limit = min(configured or limit, limit)
        with torch.inference_mode():
            return self.model.generate(**self.to_model(batch, self.model), max_new_tokens=limit,
                                       stopping_criteria=self.stop_on_cancel(cancel, limit), **kwargs)

    @staticmethod
    def stop_on_cancel(cancel: CancelToken, limit: int = 0):
        """A stopping criterion, asked after every new token, that ends generation once the run is
        cancelled and reports the tokens so far (of at most `limit`)."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Cancelled(StoppingCriteria):
            first_length = None  # the sequence length when the first new token is there

            def __call__(self, input_ids, scores, **kwargs):
                import torch

                self.first_length = self.first_length or input_ids.shape[-1]
                made = input_ids.shape[-1] - self.first_length + 1
                report(made, limit, f"{made} token{'s' if made != 1 else ''}")
                return torch.full((input_ids.shape[0],), bool(cancel.cancelled), dtype=torch.bool,
                                  device=input_ids.device)

        return StoppingCriteriaList([_Cancelled()])


def require(inputs: dict[str, str], *names: str) -> list[str]:
    """The named inputs, or a clear error naming the first missing or empty one."""
    values = []
    for name in names:
        value = inputs.get(name)
        if value is None or not str(value).strip():
            raise ExpertError(f"the input '{name}' is missing or empty")
        values.append(str(value))
    return values


def top_labels(probabilities, id2label: dict, k: int = 5) -> list[dict]:
    """[{label, score}] for the k most likely classes of a 1-D tensor of probabilities."""
    scores, indices = probabilities.float().topk(min(k, probabilities.shape[-1]))
    return [{"label": _label(id2label, int(i)), "score": round(float(s), 4)} for s, i in zip(scores, indices)]


def labels_text(labels: list[dict], empty: str = "nothing found") -> str:
    """'tabby cat (0.82), tiger cat (0.10)'"""
    return ", ".join(f"{item['label']} ({item['score']:.2f})" for item in labels) or empty


def split_labels(raw: str) -> list[str]:
    """Candidate labels given as 'cat, dog; bird' (commas, semicolons or new lines)."""
    labels = [part.strip() for part in raw.replace(";", ",").replace("\n", ",").split(",")]
    labels = list(dict.fromkeys(label for label in labels if label))
    if not labels:
        raise ExpertError("no candidate labels given: list them separated by commas")
    return labels


def _label(id2label: dict, index: int) -> str:
    return str(id2label.get(index, id2label.get(str(index), f"LABEL_{index}")))


def _model_type(path: Path) -> str:
    import json

    try:
        return json.loads((Path(path) / "config.json").read_text(encoding="utf-8")).get("model_type") or "unknown"
    except (OSError, ValueError):
        return "unknown"
