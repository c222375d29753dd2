"""Runners for tasks that generate text token by token: encoder-decoder models (summarization,
translation, text2text) and decoder-only language models (text generation, conversation).

`generate` is called directly (transformers 5 has no summarization or translation pipelines);
a stopping criterion ends it at the next token once the run is cancelled.
"""

from __future__ import annotations

from models.runners.base import Runner, require

MAX_INPUT_TOKENS = 1024
MAX_NEW_TOKENS = 200

# Target-language names and codes accepted in the translation task's "language" slot.
LANGUAGES = {
    "english": "en", "german": "de", "french": "fr", "spanish": "es", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "romanian": "ro", "russian": "ru", "chinese": "zh", "japanese": "ja", "korean": "ko",
    "arabic": "ar", "hindi": "hi", "turkish": "tr", "polish": "pl", "swedish": "sv", "finnish": "fi",
    "danish": "da", "czech": "cs", "greek": "el", "ukrainian": "uk",
}
THREE_LETTER = {"en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld",
                "ro": "ron", "ru": "rus", "zh": "zho", "ja": "jpn", "ko": "kor", "ar": "ara", "hi": "hin",
                "tr": "tur", "pl": "pol", "sv": "swe", "fi": "fin", "da": "dan", "cs": "ces", "el": "ell", "uk": "ukr"}


def language_code(name: str) -> str:
    """'German', 'de', 'deu' -> 'de' (unknown names are returned lower-cased)."""
    key = name.strip().lower()
    if key in LANGUAGES:
        return LANGUAGES[key]
    return next((two for two, three in THREE_LETTER.items() if key == three), key)


class GenerativeRunner(Runner):
    auto_class = ""

    def load(self) -> None:
        import transformers

        self.model = self.load_model(getattr(transformers, self.auto_class))
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)

    def complete(self, batch, cancel):
        """Generated ids for a tokenized prompt (BERT-style tokenizers add token_type_ids: dropped)."""
        batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        return self.generate(batch, cancel, MAX_NEW_TOKENS, pad_token_id=self.pad_id())

    def pad_id(self) -> int | None:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id


class Seq2SeqRunner(GenerativeRunner):
    """T5-style prefixes come from the model's own `task_specific_params` ("summarize: ",
    "translate English to German: "); multi-target Marian models take a `>>deu<<` token."""

    tasks = ("summarization", "translation", "text2text-generation")
    auto_class = "AutoModelForSeq2SeqLM"

    def run(self, task, inputs, workdir, cancel):
        (text,) = require(inputs, "text")
        prompt, note = self.prompt(task, text, inputs.get("language", ""))
        batch = self.tokenizer(prompt, truncation=True, max_length=MAX_INPUT_TOKENS, return_tensors="pt")
        output = self.complete(batch, cancel)
        result = self.tokenizer.decode(output[0], skip_special_tokens=True).strip()
        return {"text": result + note} if result else {"text": f"(the model produced no {task} output)"}

    def prompt(self, task: str, text: str, language: str) -> tuple[str, str]:
        """The model input, and a note for the reader when the requested language cannot be chosen."""
        specific = getattr(self.model.config, "task_specific_params", None) or {}
        if task == "summarization":
            return specific.get("summarization", {}).get("prefix", "") + text, ""
        if task != "translation" or not language.strip():
            return text, ""
        code = language_code(language)
        for key, params in specific.items():
            if key.startswith("translation_") and key.endswith(f"_to_{code}"):
                return params.get("prefix", "") + text, ""
        vocabulary = self.tokenizer.get_vocab()
        for token in (f">>{code}<<", f">>{THREE_LETTER.get(code, code)}<<"):
            if token in vocabulary:
                return f"{token} {text}", ""
        if any(k.startswith("translation_") for k in specific) or any(t.startswith(">>") for t in vocabulary):
            # The model names the languages it knows and this is not one of them.
            return text, f" (note: this model cannot choose {language} as the target language)"
        return text, ""  # a single-pair model (e.g. opus-mt-en-de) translates into its own language


class CausalLMRunner(GenerativeRunner):
    """Chat models get the request through their chat template; base models continue the text."""

    tasks = ("text-generation", "conversational")
    auto_class = "AutoModelForCausalLM"

    def run(self, task, inputs, workdir, cancel):
        (text,) = require(inputs, "text")
        if self.tokenizer.chat_template:
            prompt = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                        add_generation_prompt=True)
            batch = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
        else:
            batch = self.tokenizer(text, return_tensors="pt")
        batch = {k: v[:, -MAX_INPUT_TOKENS:] for k, v in batch.items()}
        output = self.complete(batch, cancel)
        reply = self.tokenizer.decode(output[0, batch["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        return {"text": reply or "(the model produced no text)"}
