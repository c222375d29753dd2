"""Text to video with a diffusers text-to-video pipeline (ModelScope's UNet3D, e.g.
ali-vilab/text-to-video-ms-1.7b).

The clip is written as an animated GIF, which the window shows with no codec, and also as an
MP4 when imageio with its ffmpeg plugin is installed (an optional extra, not a dependency).
"""

from __future__ import annotations

import importlib.util
import json
import logging

import numpy as np

from models.media import artifact_path
from models.record import MANIFEST
from models.runners.base import require
from models.runners.diffusion import DiffusionRunner
from models.runners.pipelines import expect_pipeline

log = logging.getLogger(__name__)

DEFAULT_FRAMES = 16  # two seconds at 8 frames per second, what the ModelScope model was trained on
DEFAULT_FPS = 8


class TextToVideoRunner(DiffusionRunner):
    tasks = ("text-to-video",)
    auto_pipeline = "TextToVideoSDPipeline"

    def load(self) -> None:
        expect_pipeline(self.path, self.auto_pipeline, "use ali-vilab/text-to-video-ms-1.7b")
        super().load()

    def _options(self) -> dict:
        """Besides steps and guidance, a manifest may set `num_frames` and `fps`."""
        options = super()._options()
        manifest = _manifest(self.path)
        frames = manifest.get("num_frames")
        self.fps = manifest["fps"] if isinstance(manifest.get("fps"), int) and manifest["fps"] > 0 else DEFAULT_FPS
        options["num_frames"] = frames if isinstance(frames, int) and frames > 0 else DEFAULT_FRAMES
        return options

    def draw(self, cancel, **kwargs):
        # This pipeline predates `callback_on_step_end`: its per-step `callback` serves to stop.
        def check(step, timestep, latents):
            self.step_done(cancel, step)

        return self.pipe(**self.options, **kwargs, output_type="np", callback=check, callback_steps=1)

    def run(self, task, inputs, workdir, cancel):
        (prompt,) = require(inputs, "text")
        frames = self.draw(cancel, prompt=prompt).frames[0]  # (frames, height, width, 3), floats in [0, 1]
        frames = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
        count, height, width = frames.shape[:3]
        outputs = {"text": f"a {count / self.fps:.1f} s video of '{prompt[:120]}', {width}x{height}, "
                           f"{count} frames at {self.fps} fps, {self.options['num_inference_steps']} steps",
                   "video": write_gif(frames, self.fps, artifact_path(workdir, task, ".gif"))}
        mp4 = write_mp4(frames, self.fps, artifact_path(workdir, task, ".mp4"))
        if mp4:
            outputs["video_mp4"] = mp4
        return outputs


def _manifest(folder) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def write_gif(frames: np.ndarray, fps: int, path) -> str:
    """An endlessly looping animated GIF of uint8 RGB frames."""
    from PIL import Image

    pictures = [Image.fromarray(frame) for frame in frames]
    pictures[0].save(path, format="GIF", save_all=True, append_images=pictures[1:], loop=0,
                     duration=round(1000 / fps), disposal=2)
    return str(path)


def write_mp4(frames: np.ndarray, fps: int, path) -> str | None:
    """An H.264 MP4 through imageio's ffmpeg plugin, or None when that is not installed."""
    if importlib.util.find_spec("imageio") is None or importlib.util.find_spec("imageio_ffmpeg") is None:
        return None
    import imageio.v2 as imageio

    # H.264 in yuv420p needs even sides; ffmpeg's macro-block resizing would otherwise warn and pad.
    height, width = (side - side % 2 for side in frames.shape[1:3])
    try:
        imageio.mimwrite(str(path), frames[:, :height, :width], format="FFMPEG", fps=fps, codec="libx264",
                         pixelformat="yuv420p", macro_block_size=1)
    except (OSError, RuntimeError, ValueError) as error:  # a broken ffmpeg costs the MP4, not the GIF
        log.warning("could not write an MP4 (%s); the GIF is there", error)
        return None
    return str(path)
