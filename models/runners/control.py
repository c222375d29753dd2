"""ControlNet: control maps from an image (edges, depth, segments), and images drawn to follow one.

HuggingGPT plans "draw a dog in the pose/outline of this photo" as two tasks: an annotator
(`canny-control`, `depth-control`, `seg-control`) turns the photo into a control map, then
`<control>-text-to-image` draws the prompt following that map with a ControlNet.

Canny needs no model: it is computed here with numpy (OpenCV is not a dependency). Depth and
segment maps come from the depth-estimation and segmentation models, run by their own runners.
"""

from __future__ import annotations

import colorsys

import numpy as np

from models.media import load_image, save_png
from models.runners.base import Runner, require
from models.runners.diffusion import DiffusionRunner, _fit
from models.runners.pipelines import expect_pipeline
from models.runners.vision import DepthEstimationRunner, ImageSegmentationRunner, _float

# Thresholds on the Sobel gradient magnitude of a 0-255 grey image, the scale OpenCV's Canny uses,
# so the values ControlNet was trained with (100, 200) mean the same here.
CANNY_LOW, CANNY_HIGH = 100.0, 200.0
CANNY_SIGMA = 1.0  # light smoothing: enough to ignore JPEG noise, little enough to keep fine detail


# -- Canny ----------------------------------------------------------------------------------------

def canny(grey: np.ndarray, low: float = CANNY_LOW, high: float = CANNY_HIGH,
          sigma: float = CANNY_SIGMA) -> np.ndarray:
    """Boolean edge map of a 2-D grey image (values 0-255): Gaussian blur, Sobel gradients,
    non-maximum suppression along the gradient, then double threshold with hysteresis."""
    if low > high:
        raise ValueError(f"the low threshold ({low}) is above the high one ({high})")
    smooth = gaussian_blur(np.asarray(grey, dtype=np.float64), sigma)
    gx, gy = sobel(smooth)
    magnitude = np.hypot(gx, gy)
    thin = non_maximum_suppression(magnitude, gx, gy)
    return hysteresis(thin, low, high)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian, borders reflected so they do not read as edges."""
    if sigma <= 0:
        return image
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    padded = np.pad(image, radius, mode="reflect")
    height, width = image.shape
    rows = sum(k * padded[:, radius + o: radius + o + width] for k, o in zip(kernel, offsets))
    return sum(k * rows[radius + o: radius + o + height, :] for k, o in zip(kernel, offsets))


def sobel(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical derivatives (x grows rightwards, y downwards)."""
    p = np.pad(image, 1, mode="edge")  # a replicated border has no gradient across it
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return gx, gy


def non_maximum_suppression(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """The magnitude where it peaks across the edge (along the gradient, rounded to one of four
    directions), zero elsewhere, so edges are one pixel wide.

    A step between two pixels gives both the same magnitude: the pixel is kept when it is strictly
    above its 'behind' neighbour and at least its 'ahead' one, so exactly one of the pair stays."""
    angle = (np.degrees(np.arctan2(gy, gx)) + 180.0) % 180.0
    sector = (((angle + 22.5) // 45) % 4).astype(np.int8)  # 0: horizontal gradient, 1: 45°, 2: vertical, 3: 135°
    p = np.pad(magnitude, 1)
    height, width = magnitude.shape

    def shifted(dy: int, dx: int) -> np.ndarray:
        return p[1 + dy: 1 + dy + height, 1 + dx: 1 + dx + width]

    # (dy, dx) of the neighbour ahead along the gradient for each sector; the other is opposite.
    steps = {0: (0, 1), 1: (1, 1), 2: (1, 0), 3: (1, -1)}
    keep = np.zeros(magnitude.shape, dtype=bool)
    for index, (dy, dx) in steps.items():
        peak = (magnitude >= shifted(dy, dx)) & (magnitude > shifted(-dy, -dx))
        keep |= (sector == index) & peak
    return np.where(keep, magnitude, 0.0)


def hysteresis(magnitude: np.ndarray, low: float, high: float) -> np.ndarray:
    """Strong pixels (>= high), plus weak ones (>= low) joined to a strong one through weak
    pixels (8-connected): a faint stretch of a real edge stays, isolated faint noise goes."""
    weak = magnitude >= low
    edges = magnitude >= high
    while True:
        grown = _dilate(edges) & weak
        if np.array_equal(grown, edges):
            return edges
        edges = grown


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Each pixel or any of its 8 neighbours set."""
    p = np.pad(mask, 1)
    height, width = mask.shape
    out = np.zeros_like(mask)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= p[1 + dy: 1 + dy + height, 1 + dx: 1 + dx + width]
    return out


def is_edge_map(image) -> bool:
    """True for a picture that already is an edge map (white lines on black), so it is not
    edge-detected a second time."""
    pixels = np.asarray(image.convert("RGB"))
    grey = pixels[..., 0]
    same = (pixels[..., 1] == grey).all() and (pixels[..., 2] == grey).all()
    return bool(same and np.isin(grey, (0, 255)).mean() > 0.99 and (grey == 0).mean() > 0.5)


def edge_picture(image):
    """White edges on black, the control image ControlNet's canny model expects."""
    from PIL import Image

    edges = canny(np.asarray(image.convert("L"), dtype=np.float64))
    return Image.fromarray(np.where(edges, 255, 0).astype(np.uint8))


# -- annotators -----------------------------------------------------------------------------------

class CannyControlRunner(Runner):
    """Edges with the Canny detector. No model to load: `needs_model` says so to a runtime that
    would otherwise look for weight files."""

    tasks = ("canny-control",)
    needs_model = False
    builtin_id = "builtin/canny"
    builtin_description = "Canny edge detector built into the app (no model to install)"

    def load(self) -> None:
        pass

    def run(self, task, inputs, workdir, cancel):
        (path,) = require(inputs, "image")
        picture = edge_picture(load_image(path))
        share = np.asarray(picture).astype(bool).mean()
        text = f"Canny edge map of the {picture.width}x{picture.height} image ({share:.1%} of pixels on edges)"
        return {"text": text, "image": save_png(picture, workdir, task)}


class DepthControlRunner(DepthEstimationRunner):
    """The depth-estimation map is already ControlNet's depth control image (near bright, far
    dark, like the MiDaS maps it was trained on)."""

    tasks = ("depth-control",)
    model_tasks = ("depth-estimation",)

    def run(self, task, inputs, workdir, cancel):
        outputs = super().run(task, inputs, workdir, cancel)
        outputs["text"] = outputs["text"].replace("depth map", "depth control map", 1)
        return outputs


class SegControlRunner(ImageSegmentationRunner):
    """Every pixel painted in its class's flat colour (no photo underneath), the control image
    of ControlNet's segmentation model. The colours are this app's own: lllyasviel/sd-controlnet-seg
    learnt ADE20K's palette, so with it the drawing follows the regions but may misread classes."""

    tasks = ("seg-control",)
    model_tasks = ("image-segmentation",)

    def run(self, task, inputs, workdir, cancel):
        from PIL import Image

        (path,) = require(inputs, "image")
        image = load_image(path)
        classes = self.class_map(image)
        present = [int(i) for i in np.unique(classes[classes >= 0])]
        colours = np.zeros((int(classes.max(initial=0)) + 2, 3), dtype=np.uint8)  # the last row, black, is -1
        for label_id in present:
            colours[label_id] = class_colour(label_id)
        picture = Image.fromarray(colours[classes])
        names = self.model.config.id2label
        found = ", ".join(str(names.get(i, i)) for i in present) or "no segments"
        text = f"segmentation control map of the {image.width}x{image.height} image: {found}"
        return {"text": text, "image": save_png(picture, workdir, task)}

    def class_map(self, image) -> np.ndarray:
        """The class id of every pixel (-1 where a panoptic model found no segment)."""
        outputs = _float(self.forward(image))
        size = [(image.height, image.width)]
        if not self.universal:
            return self.processor.post_process_semantic_segmentation(outputs, target_sizes=size)[0].cpu().numpy()
        result = self.processor.post_process_panoptic_segmentation(outputs, target_sizes=size)[0]
        ids = result["segmentation"].cpu().numpy().astype(np.int64)
        classes = np.full(ids.shape, -1, dtype=np.int64)
        for info in result["segments_info"]:
            classes[ids == info["id"]] = info["label_id"]
        return classes


def class_colour(label_id: int) -> tuple[int, int, int]:
    """A distinct, stable colour per class: hues spread by the golden ratio, so neighbouring ids
    never look alike."""
    hue = (label_id * 0.618033988749895) % 1.0
    value = 0.95 if label_id % 2 == 0 else 0.7
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.75, value)
    return round(red * 255), round(green * 255), round(blue * 255)


# -- generation -----------------------------------------------------------------------------------

class ControlNetRunner(DiffusionRunner):
    """A Stable Diffusion ControlNet pipeline (saved with its `controlnet` component): draws the
    prompt following the control image, at the control image's size."""

    tasks = ("canny-text-to-image", "depth-text-to-image", "seg-text-to-image")
    auto_pipeline = "StableDiffusionControlNetPipeline"

    def load(self) -> None:
        # Hub ControlNets (lllyasviel/sd-controlnet-canny...) are the ControlNet alone: it must be
        # saved into a Stable Diffusion 1.5 pipeline as its `controlnet` component to run here.
        expect_pipeline(self.path, self.auto_pipeline,
                        "save the ControlNet into a Stable Diffusion 1.5 pipeline (StableDiffusionControlNetPipeline)")
        super().load()

    def run(self, task, inputs, workdir, cancel):
        prompt, path = require(inputs, "text", "image")
        control = _fit(load_image(path))
        kind = task.removesuffix("-text-to-image")
        note = ""
        if kind == "canny" and not is_edge_map(control):
            # A photo rather than an edge map: the plan skipped canny-control, so do it here.
            control, note = edge_picture(control).convert("RGB"), " (edges found with Canny first)"
        output = self.draw(cancel, prompt=prompt, image=control, width=control.width, height=control.height)
        return self.result(output, workdir, task, f"an image of '{prompt[:120]}' following the {kind} map{note}")
