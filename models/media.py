"""Reading inputs and writing artifacts for runners: images (Pillow), audio (soundfile + numpy),
and pictures of results (boxes and masks drawn on a copy of the input)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np


class MediaError(ValueError):
    """An input file cannot be read as the image or audio a task needs."""


# Distinct, readable colours for boxes and masks (cycled).
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


def artifact_path(workdir: Path, task: str, suffix: str) -> Path:
    """A fresh file name in `workdir`, so several tasks of one turn never overwrite each other."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    return (workdir / f"{task}-{uuid.uuid4().hex[:10]}{suffix}").resolve()


# -- images ---------------------------------------------------------------------------------------

# Checked on the declared size before any pixel is decoded: a 17 KB PNG can declare 12000x12000
# (432 MB as RGB, gigabytes in a pipeline). 40 megapixels holds any camera photo up to 8000x5000.
MAX_IMAGE_PIXELS = 40_000_000


def load_image(path: str | Path):
    """An RGB Pillow image, turned upright as the camera meant it."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if Path(path).exists() and not Path(path).is_file():
        raise MediaError(f"{Path(path).name} is not a regular file")
    try:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise MediaError(f"{Path(path).name} declares {width}x{height} pixels; images are limited to "
                                 f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels")
            image = ImageOps.exif_transpose(image)
            return image.convert("RGB")
    except FileNotFoundError as error:
        raise MediaError(f"image not found: {path}") from error
    except Image.DecompressionBombError as error:  # Pillow's own, larger limit, raised while opening
        raise MediaError(f"{Path(path).name} declares far more pixels than the limit of "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels") from error
    except (UnidentifiedImageError, OSError) as error:
        raise MediaError(f"{Path(path).name} is not an image that can be read ({error})") from error


def save_png(image, workdir: Path, task: str) -> str:
    path = artifact_path(workdir, task, ".png")
    image.save(path, format="PNG")
    return str(path)


def draw_boxes(image, boxes: list[dict]):
    """A copy of `image` with each {label, score, box:[x0,y0,x1,y1]} outlined and captioned."""
    from PIL import ImageDraw

    canvas = image.copy()
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(min(canvas.size) / 200))
    colours = _colours([b["label"] for b in boxes])
    for item in boxes:
        x0, y0, x1, y1 = item["box"]
        colour = colours[item["label"]]
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        caption = f"{item['label']} {item['score']:.2f}"
        left, top, right, bottom = draw.textbbox((x0, y0), caption)
        top_edge = max(0, y0 - (bottom - top) - 2)
        draw.rectangle((x0, top_edge, x0 + right - left + 4, top_edge + bottom - top + 2), fill=colour)
        draw.text((x0 + 2, top_edge), caption, fill=(0, 0, 0))
    return canvas


def draw_masks(image, masks: list[tuple[str, np.ndarray]], alpha: float = 0.45):
    """A copy of `image` with each (label, boolean HxW mask) tinted in its colour and labelled at
    its centre."""
    from PIL import Image, ImageDraw

    pixels = np.asarray(image, dtype=np.float32).copy()
    colours = _colours([label for label, _ in masks])
    for label, mask in masks:
        pixels[mask] = pixels[mask] * (1 - alpha) + np.array(colours[label], dtype=np.float32) * alpha
    canvas = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for label, mask in masks:
        rows, cols = np.nonzero(mask)
        if len(rows):
            draw.text((int(cols.mean()), int(rows.mean())), label, fill=(255, 255, 255), anchor="mm")
    return canvas


def _colours(labels: list[str]) -> dict[str, tuple[int, int, int]]:
    """One colour per distinct label, in order of first appearance."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(dict.fromkeys(labels))}


# -- audio ----------------------------------------------------------------------------------------

def load_audio(path: str | Path, sampling_rate: int) -> np.ndarray:
    """Mono float32 samples in [-1, 1] at `sampling_rate` (WAV, FLAC, OGG, MP3: what libsndfile reads)."""
    import soundfile

    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except FileNotFoundError as error:
        raise MediaError(f"audio file not found: {path}") from error
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise MediaError(f"{Path(path).name} is not an audio file that can be read ({error})") from error
    if samples.size == 0:
        raise MediaError(f"{Path(path).name} holds no audio")
    return resample(samples.mean(axis=1), rate, sampling_rate)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling in the frequency domain: dropping (or zero-filling) the spectrum
    above the new Nyquist frequency is what keeps aliasing out when going down."""
    if rate == target:
        return samples.astype(np.float32)
    length = max(1, round(len(samples) * target / rate))
    spectrum = np.fft.rfft(samples)
    bins = length // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), dtype=spectrum.dtype)])
    return (np.fft.irfft(spectrum, n=length) * (length / len(samples))).astype(np.float32)


def write_wav(samples, sampling_rate: int, workdir: Path, task: str) -> str:
    """16-bit PCM WAV; louder-than-full-scale output is scaled down instead of clipped."""
    import soundfile

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak > 1.0:
        samples = samples / peak
    path = artifact_path(workdir, task, ".wav")
    soundfile.write(str(path), samples, int(sampling_rate), subtype="PCM_16", format="WAV")
    return str(path)
