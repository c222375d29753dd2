"""Runners that read an image and answer in words: captions, visual questions, document questions.

Image processor and tokenizer are loaded separately rather than as one `AutoProcessor`, which
also serves folders whose processor class would not load on its own (ViT + GPT-2 captioners).
"""

from __future__ import annotations

from models.media import load_image
from models.runners.base import Runner, WrongTaskError, labels_text, require, top_labels

MAX_NEW_TOKENS = 64


class VisionTextRunner(Runner):
    def load_parts(self, auto_class) -> None:
        import transformers

        self.model = self.load_model(auto_class)
        self.processor = transformers.AutoImageProcessor.from_pretrained(self.path)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)

    def pixels(self, path: str) -> dict:
        return dict(self.processor(images=load_image(path), return_tensors="pt"))

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()


class ImageToTextRunner(VisionTextRunner):
    """Captioning or reading text (BLIP, GIT, ViT+GPT-2, TrOCR): generation from the pixels."""

    tasks = ("image-to-text",)

    def load(self) -> None:
        import transformers

        self.load_parts(transformers.AutoModelForImageTextToText)

    def run(self, task, inputs, workdir, cancel):
        (path,) = require(inputs, "image")
        output = self.generate(self.pixels(path), cancel, MAX_NEW_TOKENS)
        caption = self.decode(output[0])
        return {"text": caption or "(the model produced no caption)"}


class VisualQuestionAnsweringRunner(VisionTextRunner):
    """ViLT picks answers from a fixed list (scores per answer); BLIP writes its answer."""

    tasks = ("visual-question-answering",)

    def load(self) -> None:
        import transformers

        self.load_parts(transformers.AutoModelForVisualQuestionAnswering)
        self.generative = self.model.can_generate()

    def run(self, task, inputs, workdir, cancel):
        import torch

        path, question = require(inputs, "image", "text")
        batch = {**self.pixels(path), **self.tokenizer(question, return_tensors="pt", truncation=True,
                                                       max_length=self._max_question_tokens())}
        if self.generative:
            batch.pop("token_type_ids", None)  # BLIP's generate takes ids and mask only
            answer = self.decode(self.generate(batch, cancel, MAX_NEW_TOKENS)[0])
            return {"text": answer or "(the model produced no answer)"}
        with torch.inference_mode():
            logits = self.model(**self.to_model(batch, self.model)).logits[0].float()
        labels = top_labels(logits.sigmoid(), self.model.config.id2label)  # ViLT was trained multi-label
        return {"text": f"{labels[0]['label']} (candidates: {labels_text(labels)})", "labels": labels}

    def _max_question_tokens(self) -> int:
        text_config = getattr(self.model.config, "text_config", self.model.config)
        return min(self.tokenizer.model_max_length, getattr(text_config, "max_position_embeddings", 512) or 512)


class DocumentQuestionAnsweringRunner(VisionTextRunner):
    """OCR-free document models (Donut): the question goes in as the decoder's prompt
    ('<s_docvqa><s_question>...</s_question><s_answer>') and the answer is what it writes next."""

    tasks = ("document-question-answering",)
    prompt = "<s_docvqa><s_question>{}</s_question><s_answer>"

    def load(self) -> None:
        import transformers

        config = self.read_config()
        if config.model_type.startswith("layoutlm"):
            raise WrongTaskError("LayoutLM models read words found by an OCR engine (Tesseract), which this "
                                 "offline install does not have; use an OCR-free model such as "
                                 "naver-clova-ix/donut-base-finetuned-docvqa")
        self.load_parts(transformers.AutoModelForImageTextToText)

    def run(self, task, inputs, workdir, cancel):
        path, question = require(inputs, "image", "text")
        prompt = self.tokenizer(self.prompt.format(question), add_special_tokens=False, return_tensors="pt")
        batch = {**self.pixels(path), "decoder_input_ids": prompt["input_ids"]}
        output = self.generate(batch, cancel, MAX_NEW_TOKENS)[0, prompt["input_ids"].shape[1]:]
        answer = self.decode(output).split("</s_answer>")[0].strip()
        return {"text": answer or "(the model found no answer)"}
