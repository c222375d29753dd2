"""Runners for audio: speech to text, audio labels, text to speech.

Input audio is read with soundfile and resampled with numpy to the rate the model was trained on.
"""

from __future__ import annotations

import numpy as np

from models.media import load_audio, write_wav
from models.runners.base import Runner, WrongTaskError, labels_text, require, top_labels

WHISPER_WINDOW_S = 30  # Whisper hears at most 30 s at once: longer audio is transcribed window by window
MAX_NEW_TOKENS = 200


class AudioRunner(Runner):
    def sampling_rate(self) -> int:
        return int(self.features.sampling_rate)

    def features_of(self, samples: np.ndarray) -> dict:
        return dict(self.features(samples, sampling_rate=self.sampling_rate(), return_tensors="pt"))


class SpeechRecognitionRunner(AudioRunner):
    """Encoder-decoder models (Whisper) generate the transcript; CTC models (wav2vec2) spell it
    out frame by frame."""

    tasks = ("automatic-speech-recognition",)

    def load(self) -> None:
        import transformers

        config = self.read_config()
        self.seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        auto = transformers.AutoModelForSpeechSeq2Seq if self.seq2seq else transformers.AutoModelForCTC
        self.model = self.load_model(auto)
        self.features = transformers.AutoFeatureExtractor.from_pretrained(self.path)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)

    def run(self, task, inputs, workdir, cancel):
        import torch

        (path,) = require(inputs, "audio")
        samples = load_audio(path, self.sampling_rate())
        if not self.seq2seq:
            with torch.inference_mode():
                logits = self.model(**self.to_model(self.features_of(samples), self.model)).logits
            transcript = self.tokenizer.decode(logits[0].argmax(-1)).strip()
        else:
            window = WHISPER_WINDOW_S * self.sampling_rate()
            pieces = []
            for begin in range(0, len(samples), window):
                cancel.raise_if_cancelled()
                ids = self.generate(self.features_of(samples[begin:begin + window]), cancel, MAX_NEW_TOKENS)
                pieces.append(self.tokenizer.decode(ids[0], skip_special_tokens=True).strip())
            transcript = " ".join(p for p in pieces if p)
        seconds = len(samples) / self.sampling_rate()
        return {"text": transcript or f"(no speech recognised in {seconds:.1f} s of audio)"}


class AudioClassificationRunner(AudioRunner):
    tasks = ("audio-classification",)

    def load(self) -> None:
        import transformers

        self.model = self.load_model(transformers.AutoModelForAudioClassification)
        self.features = transformers.AutoFeatureExtractor.from_pretrained(self.path)

    def run(self, task, inputs, workdir, cancel):
        import torch

        (path,) = require(inputs, "audio")
        batch = self.features_of(load_audio(path, self.sampling_rate()))
        with torch.inference_mode():
            logits = self.model(**self.to_model(batch, self.model)).logits[0].float()
        multi = getattr(self.model.config, "problem_type", None) == "multi_label_classification"
        labels = top_labels(logits.sigmoid() if multi else logits.softmax(-1), self.model.config.id2label)
        return {"text": labels_text(labels), "labels": labels}


class TextToSpeechRunner(Runner):
    """End-to-end models that turn characters straight into a waveform (VITS, e.g. MMS-TTS).
    Models that need a separate vocoder and speaker embeddings (SpeechT5) are refused clearly."""

    tasks = ("text-to-speech",)

    def load(self) -> None:
        import transformers

        config = self.read_config()
        if config.model_type != "vits":
            raise WrongTaskError(f"{config.model_type} speech models need a vocoder or voice presets this runner "
                                 "does not provide; use a VITS model such as facebook/mms-tts-eng")
        self.model = self.load_model(transformers.AutoModelForTextToWaveform)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.path)

    def run(self, task, inputs, workdir, cancel):
        import torch

        (text,) = require(inputs, "text")
        batch = self.tokenizer(text, return_tensors="pt")
        if batch["input_ids"].shape[1] == 0:
            raise ValueError("none of the text's characters can be spoken by this voice")
        with torch.inference_mode():
            waveform = self.model(**self.to_model(batch, self.model)).waveform[0].float().cpu().numpy()
        rate = int(self.model.config.sampling_rate)
        path = write_wav(waveform, rate, workdir, task)
        return {"text": f"{len(waveform) / rate:.1f} s of speech saying: {text[:200]}", "audio": path}
