"""Runners for diffusers pipelines: text to image and image to image (Stable Diffusion and kin).

The cancel token is checked after every denoising step (diffusers' `callback_on_step_end`), so
Stop ends a generation within one step. Too big for the GPU, a pipeline runs with model CPU
offload (see `models.devices`).
"""

from __future__ import annotations

import json

from common.progress import report
from models.media import load_image, save_png
from models.runners.base import Runner, WrongTaskError, require

DEFAULT_STEPS = 25
MAX_SIDE = 768  # image-to-image inputs are scaled down to this, in multiples of 8 (the VAE's stride)


class DiffusionRunner(Runner):
    pipeline = True
    auto_pipeline = ""

    def load(self) -> None:
        import diffusers

        if not (self.path / "model_index.json").is_file():
            raise WrongTaskError("it is not a diffusers pipeline (no model_index.json)")
        pipeline_class = getattr(diffusers, self.auto_pipeline)
        pipe = pipeline_class.from_pretrained(self.path, dtype=self.placement.torch_dtype(),
                                              use_safetensors=self.use_safetensors)
        pipe.set_progress_bar_config(disable=True)
        self.pipe = self.placement.place_pipeline(pipe)
        self.options = self._options()

    def _options(self) -> dict:
        """Steps and guidance: the pipeline's defaults are tuned for GPUs; a model's manifest may
        set its own (`inference_steps`, `guidance_scale`: distilled models like SD-Turbo want 1-4
        steps and no guidance)."""
        options = {"num_inference_steps": DEFAULT_STEPS}
        try:
            manifest = json.loads((self.path / "jarvis-model.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        if not isinstance(manifest, dict):
            manifest = {}
        if isinstance(manifest.get("inference_steps"), int):
            options["num_inference_steps"] = manifest["inference_steps"]
        if isinstance(manifest.get("guidance_scale"), (int, float)):
            options["guidance_scale"] = float(manifest["guidance_scale"])
        return options

    def step_done(self, cancel, step: int) -> None:
        """After each denoising step: stop if cancelled, else report the step."""
        cancel.raise_if_cancelled()
        # image-to-image runs strength x steps; a pipeline that says how many it runs knows best
        total = getattr(self.pipe, "num_timesteps", 0) or self.options.get("num_inference_steps", 0)
        report(step + 1, total, f"step {step + 1}/{total}")

    def draw(self, cancel, **kwargs):
        def check(pipe, step, timestep, callback_kwargs):
            self.step_done(cancel, step)
            return callback_kwargs

        return self.pipe(**self.options, **kwargs, callback_on_step_end=check)

    def result(self, output, workdir, task: str, what: str) -> dict:
        image = output.images[0]
        flagged = getattr(output, "nsfw_content_detected", None)
        note = " (blanked by the model's safety checker)" if flagged and flagged[0] else ""
        text = f"{what}, {image.width}x{image.height}, {self.options['num_inference_steps']} steps{note}"
        return {"text": text, "image": save_png(image, workdir, task)}


class TextToImageRunner(DiffusionRunner):
    tasks = ("text-to-image",)
    auto_pipeline = "AutoPipelineForText2Image"

    def run(self, task, inputs, workdir, cancel):
        (prompt,) = require(inputs, "text")
        output = self.draw(cancel, prompt=prompt)
        return self.result(output, workdir, task, f"an image of '{prompt[:120]}'")


class ImageToImageRunner(DiffusionRunner):
    """The input image redrawn following the (optional) prompt; strength 0.75 keeps its layout."""

    tasks = ("image-to-image",)
    auto_pipeline = "AutoPipelineForImage2Image"
    strength = 0.75

    def run(self, task, inputs, workdir, cancel):
        (path,) = require(inputs, "image")
        prompt = inputs.get("text") or ""
        image = _fit(load_image(path))
        output = self.draw(cancel, prompt=prompt, image=image, strength=self.strength)
        what = f"the image redrawn as '{prompt[:120]}'" if prompt else "the image redrawn"
        return self.result(output, workdir, task, what)


def _fit(image):
    """Scaled to at most MAX_SIDE and cut to multiples of 8, which the VAE needs."""
    scale = min(1.0, MAX_SIDE / max(image.size))
    width, height = (max(8, int(side * scale) // 8 * 8) for side in image.size)
    return image.resize((width, height)) if (width, height) != image.size else image
