"""Image editing from an instruction ("make it winter"): InstructPix2Pix.

Unlike image-to-image, which redraws an image towards a description, InstructPix2Pix takes the
image as a second condition and follows an edit instruction, so what is not mentioned stays.
"""

from __future__ import annotations

from models.media import load_image
from models.runners.base import require
from models.runners.diffusion import DiffusionRunner, _fit
from models.runners.pipelines import expect_pipeline


class ImageEditingRunner(DiffusionRunner):
    tasks = ("image-editing",)
    auto_pipeline = "StableDiffusionInstructPix2PixPipeline"

    def load(self) -> None:
        expect_pipeline(self.path, self.auto_pipeline, "use timbrooks/instruct-pix2pix")
        super().load()

    def run(self, task, inputs, workdir, cancel):
        instruction, path = require(inputs, "text", "image")
        image = _fit(load_image(path))
        output = self.draw(cancel, prompt=instruction, image=image)
        return self.result(output, workdir, task, f"the image edited: '{instruction[:120]}'")
