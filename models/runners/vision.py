"""Runners for image tasks: labels, zero-shot labels, boxes, segments and depth.

Boxes and masks are drawn on a copy of the input; the input file is never touched.
"""

from __future__ import annotations

import numpy as np

from models.media import draw_boxes, draw_masks, load_image, save_png
from models.runners.base import Runner, WrongTaskError, labels_text, require, split_labels, top_labels

DETECTION_THRESHOLD = 0.5
MAX_BOXES = 50
MAX_SEGMENTS = 20


class ImageRunner(Runner):
    """An image processor plus one `AutoModelFor...`."""

    auto_class = ""

    def load(self) -> None:
        import transformers

        self.model = self.load_model(getattr(transformers, self.auto_class))
        self.processor = transformers.AutoImageProcessor.from_pretrained(self.path)

    def forward(self, image, **extra):
        import torch

        batch = self.processor(images=image, return_tensors="pt")
        with torch.inference_mode():
            return self.model(**self.to_model(batch, self.model), **extra)


class ImageClassificationRunner(ImageRunner):
    tasks = ("image-classification",)
    auto_class = "AutoModelForImageClassification"

    def run(self, task, inputs, workdir, cancel):
        (path,) = require(inputs, "image")
        logits = self.forward(load_image(path)).logits[0].float()
        multi = getattr(self.model.config, "problem_type", None) == "multi_label_classification"
        labels = top_labels(logits.sigmoid() if multi else logits.softmax(-1), self.model.config.id2label)
        return {"text": labels_text(labels), "labels": labels}


class ZeroShotImageClassificationRunner(Runner):
    """CLIP-style: the image against 'a photo of {label}.' for each label. SigLIP models score
    each pair on its own (sigmoid) and were trained on fixed-length padded text."""

    tasks = ("zero-shot-image-classification",)
    template = "a photo of {}."

    def load(self) -> None:
        import transformers

        self.model = self.load_model(transformers.AutoModelForZeroShotImageClassification)
        self.processor = transformers.AutoImageProcessor.from_pretrained(self.path)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)
        self.sigmoid = self.model.config.model_type.startswith("siglip")

    def run(self, task, inputs, workdir, cancel):
        import torch

        path, raw = require(inputs, "image", "labels")
        candidates = split_labels(raw)
        text = self.tokenizer([self.template.format(c) for c in candidates], return_tensors="pt", truncation=True,
                              padding="max_length" if self.sigmoid else True,
                              max_length=min(self.tokenizer.model_max_length, 77 if not self.sigmoid else 64))
        pixels = self.processor(images=load_image(path), return_tensors="pt")
        batch = {**text, **pixels}
        batch.pop("token_type_ids", None)
        with torch.inference_mode():
            logits = self.model(**self.to_model(batch, self.model)).logits_per_image[0].float()
        scores = logits.sigmoid() if self.sigmoid else logits.softmax(-1)
        labels = sorted(({"label": c, "score": round(float(s), 4)} for c, s in zip(candidates, scores)),
                        key=lambda item: -item["score"])
        return {"text": labels_text(labels), "labels": labels}


class ObjectDetectionRunner(ImageRunner):
    tasks = ("object-detection",)
    auto_class = "AutoModelForObjectDetection"

    def run(self, task, inputs, workdir, cancel):
        (path,) = require(inputs, "image")
        image = load_image(path)
        outputs = self.forward(image)
        found = self.processor.post_process_object_detection(
            _float(outputs), threshold=DETECTION_THRESHOLD, target_sizes=[(image.height, image.width)])[0]
        boxes = []
        for score, label, box in zip(found["scores"].tolist(), found["labels"].tolist(), found["boxes"].tolist()):
            x0, y0, x1, y1 = (round(max(0.0, v), 1) for v in box)
            boxes.append({"label": str(self.model.config.id2label.get(int(label), label)), "score": round(score, 4),
                          "box": [x0, y0, min(x1, image.width), min(y1, image.height)]})
        boxes = sorted(boxes, key=lambda b: -b["score"])[:MAX_BOXES]
        text = f"{len(boxes)} object{'s' if len(boxes) != 1 else ''}: {labels_text(boxes)}" if boxes \
            else f"no objects found above a score of {DETECTION_THRESHOLD}"
        return {"text": text, "boxes": boxes, "image": save_png(draw_boxes(image, boxes), workdir, task)}


class ImageSegmentationRunner(ImageRunner):
    """Semantic models (SegFormer, UperNet...) label every pixel; universal ones (Mask2Former,
    MaskFormer) give panoptic segments with scores. Either way: a mask per segment, drawn."""

    tasks = ("image-segmentation",)

    def load(self) -> None:
        import transformers
        from transformers.models.auto.modeling_auto import MODEL_FOR_UNIVERSAL_SEGMENTATION_MAPPING_NAMES

        config = self.read_config()
        if config.model_type == "oneformer":
            raise WrongTaskError("OneFormer needs a task prompt this runner does not send; "
                                 "use Mask2Former or SegFormer")
        self.universal = config.model_type in MODEL_FOR_UNIVERSAL_SEGMENTATION_MAPPING_NAMES
        auto = transformers.AutoModelForUniversalSegmentation if self.universal \
            else transformers.AutoModelForSemanticSegmentation
        self.model = self.load_model(auto)
        self.processor = transformers.AutoImageProcessor.from_pretrained(self.path)

    def run(self, task, inputs, workdir, cancel):
        (path,) = require(inputs, "image")
        image = load_image(path)
        outputs = _float(self.forward(image))
        size = [(image.height, image.width)]
        names = self.model.config.id2label
        segments = []  # (label, score, mask)
        if self.universal:
            result = self.processor.post_process_panoptic_segmentation(outputs, target_sizes=size)[0]
            ids = result["segmentation"].cpu().numpy()
            for info in result["segments_info"]:
                segments.append((str(names.get(info["label_id"], info["label_id"])), float(info["score"]),
                                 ids == info["id"]))
        else:
            classes = self.processor.post_process_semantic_segmentation(outputs, target_sizes=size)[0].cpu().numpy()
            for label_id in np.unique(classes):
                mask = classes == label_id
                segments.append((str(names.get(int(label_id), label_id)), float(mask.mean()), mask))
        segments = sorted(segments, key=lambda s: -s[2].sum())[:MAX_SEGMENTS]
        labels = [{"label": label, "score": round(score, 4), "area": round(float(mask.mean()), 4)}
                  for label, score, mask in segments]
        text = ", ".join(f"{item['label']} ({item['area']:.0%} of the image)" for item in labels) or "no segments found"
        drawn = draw_masks(image, [(label, mask) for label, _, mask in segments])
        return {"text": text, "labels": labels, "image": save_png(drawn, workdir, task)}


class DepthEstimationRunner(ImageRunner):
    """A grey-scale depth map the size of the input, near bright and far dark. Relative models
    (DPT, Depth Anything) predict inverse depth; metric ones predict metres and are flipped."""

    tasks = ("depth-estimation",)
    auto_class = "AutoModelForDepthEstimation"
    metric_types = ("glpn", "zoedepth", "depth_pro")

    def run(self, task, inputs, workdir, cancel):
        import torch
        from PIL import Image

        (path,) = require(inputs, "image")
        image = load_image(path)
        depth = self.forward(image).predicted_depth.float()
        if depth.dim() == 3:
            depth = depth[:, None]
        depth = torch.nn.functional.interpolate(depth, size=(image.height, image.width), mode="bicubic",
                                                align_corners=False)[0, 0].cpu().numpy()
        metric = self.model.config.model_type in self.metric_types
        low, high = float(depth.min()), float(depth.max())
        scaled = (depth - low) / (high - low) if high > low else np.zeros_like(depth)
        if metric:
            scaled = 1.0 - scaled
        picture = Image.fromarray((scaled * 255).round().astype(np.uint8))  # 2-D uint8: grey-scale
        text = f"depth map of the {image.width}x{image.height} image (near is bright, far is dark)"
        if metric:
            text += f"; distances from {low:.1f} to {high:.1f} m"
        return {"text": text, "image": save_png(picture, workdir, task)}


def _float(outputs):
    """Post-processing wants float32 (a GPU model answers in half precision)."""
    for key, value in outputs.items():
        if hasattr(value, "is_floating_point") and value.is_floating_point():
            outputs[key] = value.float()
    return outputs
