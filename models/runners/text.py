"""Runners for text tasks."""

from __future__ import annotations

from models.runners.base import Runner


class SentenceSimilarityRunner(Runner):
    """Mean-pooled, normalised sentence embeddings (the sentence-transformers recipe); cosine score."""

    tasks = ("sentence-similarity",)

    def load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path, dtype=self.placement.torch_dtype(),
                                               use_safetensors=True).to(self.placement.device).eval()

    def embed(self, sentences: list[str]):
        import torch

        batch = self.tokenizer(sentences, padding=True, truncation=True, max_length=256, return_tensors="pt")
        batch = {k: v.to(self.placement.device) for k, v in batch.items()}
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    def run(self, task, inputs, workdir, cancel):
        first, second = inputs["text"], inputs["text2"]
        vectors = self.embed([first, second])
        score = float((vectors[0] @ vectors[1]).item())
        verdict = "similar in meaning" if score >= 0.5 else "somewhat related" if score >= 0.25 else "unrelated"
        return {"text": f"similarity score {score:.2f} on a scale from -1 to 1: {verdict}", "score": round(score, 4)}
