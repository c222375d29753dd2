"""Runners for text tasks answered by an encoder in one forward pass: classification, entities,
zero-shot labels, extractive question answering, masked words and sentence similarity."""

from __future__ import annotations

from models.runners.base import Runner, WrongTaskError, labels_text, require, split_labels, top_labels

MAX_TOKENS = 512


class EncoderRunner(Runner):
    """A tokenizer plus one `AutoModelFor...`; subclasses name the class and read the logits."""

    auto_class = ""

    def load(self) -> None:
        import transformers

        self.model = self.load_model(getattr(transformers, self.auto_class))
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)

    def limit(self) -> int:
        """Tokens the model reads at once."""
        positions = getattr(self.model.config, "max_position_embeddings", None) or MAX_TOKENS
        return min(self.tokenizer.model_max_length, positions, MAX_TOKENS)

    def encode(self, *texts, **kwargs):
        return self.tokenizer(*texts, truncation=kwargs.pop("truncation", True), max_length=self.limit(),
                              return_tensors="pt", **kwargs)

    def forward(self, batch):
        import torch

        with torch.inference_mode():
            return self.model(**self.to_model(batch, self.model))

    def probabilities(self, logits):
        """Sigmoid for multi-label heads, softmax otherwise."""
        if getattr(self.model.config, "problem_type", None) == "multi_label_classification":
            return logits.float().sigmoid()
        return logits.float().softmax(-1)


class TextClassificationRunner(EncoderRunner):
    tasks = ("text-classification",)
    auto_class = "AutoModelForSequenceClassification"

    def run(self, task, inputs, workdir, cancel):
        (text,) = require(inputs, "text")
        logits = self.forward(self.encode(text)).logits[0]
        labels = top_labels(self.probabilities(logits), self.model.config.id2label)
        return {"text": labels_text(labels), "labels": labels}


class TokenClassificationRunner(EncoderRunner):
    """Named entities: one label per word (its first sub-token's), neighbouring words of the same
    entity (B-X then I-X, or the same plain label) merged into one span."""

    tasks = ("token-classification",)
    auto_class = "AutoModelForTokenClassification"

    def load(self) -> None:
        super().load()
        if not self.tokenizer.is_fast:
            raise WrongTaskError("its tokenizer cannot map tokens back to words (no fast tokenizer)")

    def run(self, task, inputs, workdir, cancel):
        (text,) = require(inputs, "text")
        batch = self.encode(text, return_offsets_mapping=True)
        offsets = batch.pop("offset_mapping")[0].tolist()
        probabilities = self.probabilities(self.forward(batch).logits[0])
        words: list[list] = []  # [label, score, start, end] per word, labelled by its first sub-token
        previous = None
        for index, word in enumerate(batch.word_ids(0)):
            if word is None:  # [CLS], [SEP], padding
                continue
            start, end = offsets[index]
            if word == previous:
                words[-1][3] = end  # a later sub-token extends the word
                continue
            previous = word
            score, label_id = probabilities[index].max(-1)
            words.append([str(self.model.config.id2label[int(label_id)]), float(score), start, end])
        entities = _merge_entities(words, text)
        summary = ", ".join(f"{e['word']} ({e['label']}, {e['score']:.2f})" for e in entities)
        return {"text": summary or "no entities found", "labels": entities}


def _merge_entities(words: list[list], text: str) -> list[dict]:
    entities: list[dict] = []
    scores: list[list[float]] = []
    for label, score, start, end in words:
        if label == "O":
            continue
        prefix, _, kind = label.rpartition("-") if label[:2] in ("B-", "I-") else ("", "", label)
        last = entities[-1] if entities else None
        joins = last is not None and last["label"] == kind and prefix != "B" and not text[last["end"]:start].strip(" ")
        if joins:
            last["end"] = end
            scores[-1].append(score)
        else:
            entities.append({"label": kind, "start": start, "end": end})
            scores.append([score])
    for entity, values in zip(entities, scores):
        entity["word"] = text[entity["start"]:entity["end"]]
        entity["score"] = round(sum(values) / len(values), 4)
    return entities


class ZeroShotClassificationRunner(EncoderRunner):
    """An NLI model scores 'This example is {label}.' as entailed by the text, for each label;
    the entailment scores are compared across labels (softmax), as the transformers pipeline does."""

    tasks = ("zero-shot-classification",)
    auto_class = "AutoModelForSequenceClassification"
    template = "This example is {}."

    def load(self) -> None:
        super().load()
        names = {str(name).lower(): int(index) for index, name in self.model.config.id2label.items()}
        self.entailment = next((i for name, i in names.items() if name.startswith("entail")), None)
        if self.entailment is None:
            raise WrongTaskError("it is not a natural-language-inference model (no 'entailment' label)")

    def run(self, task, inputs, workdir, cancel):
        text, raw = require(inputs, "text", "labels")
        candidates = split_labels(raw)
        hypotheses = [self.template.format(label) for label in candidates]
        batch = self.encode([text] * len(candidates), hypotheses, padding=True, truncation="only_first")
        entailment = self.forward(batch).logits[:, self.entailment].float().softmax(-1)
        labels = [{"label": label, "score": round(float(score), 4)} for label, score in zip(candidates, entailment)]
        labels.sort(key=lambda item: -item["score"])
        return {"text": labels_text(labels), "labels": labels}


class QuestionAnsweringRunner(EncoderRunner):
    """Extractive: the most likely span of the context, searched over overlapping windows when the
    context is longer than the model reads at once."""

    tasks = ("question-answering",)
    auto_class = "AutoModelForQuestionAnswering"
    max_answer_tokens = 30

    def run(self, task, inputs, workdir, cancel):
        import torch

        question, context = require(inputs, "question", "context")
        # Windows overlap by half of what is left for the context, so no answer is cut in two.
        room = self.limit() - len(self.tokenizer(question)["input_ids"]) - 1
        if room < 8:
            raise ValueError("the question is too long for this model to also read the text")
        batch = self.encode(question, context, truncation="only_second", stride=min(128, room // 2), padding=True,
                            return_overflowing_tokens=True, return_offsets_mapping=True)
        offsets = batch.pop("offset_mapping")
        batch.pop("overflow_to_sample_mapping", None)
        outputs = self.forward(batch)
        best = (float("-inf"), 0.0, 0, 0)  # (joint logit, probability, start char, end char)
        for window in range(len(offsets)):
            cancel.raise_if_cancelled()
            in_context = torch.tensor([s == 1 for s in batch.sequence_ids(window)], device=outputs.start_logits.device)
            start = outputs.start_logits[window].float().masked_fill(~in_context, float("-inf"))
            end = outputs.end_logits[window].float().masked_fill(~in_context, float("-inf"))
            joint = start[:, None] + end[None, :]
            allowed = torch.ones_like(joint, dtype=torch.bool).triu().tril(self.max_answer_tokens - 1)
            joint = joint.masked_fill(~allowed, float("-inf"))
            flat = int(joint.argmax())
            i, j = divmod(flat, joint.shape[1])
            if joint[i, j] > best[0]:
                probability = float(start.softmax(-1)[i] * end.softmax(-1)[j])
                best = (float(joint[i, j]), probability, int(offsets[window][i][0]), int(offsets[window][j][1]))
        _, score, first, last = best
        answer = context[first:last].strip()
        return {"text": answer or "no answer found in the text", "score": round(score, 4)}


class FillMaskRunner(EncoderRunner):
    tasks = ("fill-mask",)
    auto_class = "AutoModelForMaskedLM"

    def run(self, task, inputs, workdir, cancel):
        import torch

        (text,) = require(inputs, "text")
        mask = self.tokenizer.mask_token
        for spelling in ("[MASK]", "<mask>", "[mask]"):
            text = text.replace(spelling, mask)
        batch = self.encode(text)
        positions = (batch["input_ids"][0] == self.tokenizer.mask_token_id).nonzero().flatten().tolist()
        if not positions:
            raise ValueError(f"the text has no mask token: write {mask} where the missing word goes")
        logits = self.forward(batch).logits[0, positions[0]].float()
        special = torch.tensor(self.tokenizer.all_special_ids, device=logits.device)
        probabilities = logits.index_fill(0, special, float("-inf")).softmax(-1)  # a word fills the gap, not [SEP]
        scores, ids = probabilities.topk(5)
        labels = [{"label": self.tokenizer.decode([int(i)]).strip(), "score": round(float(s), 4)}
                  for s, i in zip(scores, ids)]
        filled = text.replace(mask, labels[0]["label"], 1)
        return {"text": f"{filled} (candidates: {labels_text(labels)})", "labels": labels}


class SentenceSimilarityRunner(EncoderRunner):
    """Mean-pooled, normalised sentence embeddings (the sentence-transformers recipe); cosine score."""

    tasks = ("sentence-similarity",)
    auto_class = "AutoModel"

    def embed(self, sentences: list[str]):
        import torch

        batch = self.encode(sentences, padding=True)
        hidden = self.forward(batch).last_hidden_state
        mask = batch["attention_mask"].to(hidden.device).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    def run(self, task, inputs, workdir, cancel):
        first, second = require(inputs, "text", "text2")
        vectors = self.embed([first, second])
        score = float((vectors[0] @ vectors[1]).item())
        verdict = "similar in meaning" if score >= 0.5 else "somewhat related" if score >= 0.25 else "unrelated"
        return {"text": f"similarity score {score:.2f} on a scale from -1 to 1: {verdict}", "score": round(score, 4)}
