"""Audio to audio: voice conversion with SpeechT5 (microsoft/speecht5_vc).

SpeechT5 predicts a mel spectrogram in the target voice; a HiFi-GAN vocoder turns it into a
waveform. The model folder holds the vocoder in a `vocoder/` subfolder (microsoft/speecht5_hifigan)
and, optionally, the target voice as a speaker embedding (an x-vector) in
`speaker_embedding.safetensors`; without one the voice is the model's neutral one.
"""

from __future__ import annotations

import numpy as np

from models.media import load_audio, write_wav
from models.runners.base import Runner, WrongTaskError, require

WINDOW_S = 20  # long input is converted in windows: bounded memory, and Stop is heard between them
# Output length at most this many mel frames per encoder frame (about 1.25 for speech of the same
# length): a model that never predicts "stop" still ends, at about twice the input's duration.
MAX_LENGTH_RATIO = 3.0
VOCODER_FOLDER = "vocoder"
SPEAKER_FILE = "speaker_embedding.safetensors"


class VoiceConversionRunner(Runner):
    tasks = ("audio-to-audio",)

    def load(self) -> None:
        import transformers

        config = self.read_config()
        if config.model_type != "speecht5":
            raise WrongTaskError(f"audio-to-audio runs SpeechT5 voice conversion; a {config.model_type} model "
                                 "is not one (use microsoft/speecht5_vc)")
        vocoder = self.path / VOCODER_FOLDER
        if not (vocoder / "config.json").is_file():
            raise WrongTaskError(f"SpeechT5 needs a HiFi-GAN vocoder in its '{VOCODER_FOLDER}' subfolder "
                                 "(microsoft/speecht5_hifigan)")
        self.model = self.load_model(transformers.SpeechT5ForSpeechToSpeech)
        self.vocoder = transformers.SpeechT5HifiGan.from_pretrained(
            vocoder, use_safetensors=self.use_safetensors, **self.placement.load_kwargs()).eval()
        self.features = transformers.AutoFeatureExtractor.from_pretrained(self.path)
        self.speaker, self.voice = self._speaker(config.speaker_embedding_dim)
        self.speaker = self.speaker.to(self.placement.device, self.placement.torch_dtype())
        self.rate = int(self.vocoder.config.sampling_rate)

    def _speaker(self, size: int):
        """The target voice's embedding (1 x size) and how to name it."""
        import torch
        from safetensors.torch import load_file

        path = self.path / SPEAKER_FILE
        if not path.is_file():
            return torch.zeros(1, size), "the model's neutral voice (no speaker embedding installed)"
        tensors = load_file(str(path))
        if len(tensors) != 1:
            raise WrongTaskError(f"{SPEAKER_FILE} should hold one speaker embedding, not {len(tensors)} tensors")
        embedding = next(iter(tensors.values())).float().reshape(1, -1)
        if embedding.shape[1] != size:
            raise WrongTaskError(f"the speaker embedding has {embedding.shape[1]} values; this model wants {size}")
        return embedding, "the installed speaker's voice"

    def run(self, task, inputs, workdir, cancel):
        import torch

        (path,) = require(inputs, "audio")
        rate = int(self.features.sampling_rate)
        samples = load_audio(path, rate)
        window = WINDOW_S * rate
        pieces = []
        for begin in range(0, len(samples), window):
            cancel.raise_if_cancelled()
            batch = self.features(audio=samples[begin:begin + window], sampling_rate=rate, return_tensors="pt")
            batch = self.to_model(batch, self.model)
            with torch.inference_mode():
                speech = self.model.generate_speech(batch["input_values"], self.speaker,
                                                    attention_mask=batch.get("attention_mask"),
                                                    maxlenratio=MAX_LENGTH_RATIO, vocoder=self.vocoder)
            pieces.append(speech.float().cpu().numpy().reshape(-1))
        waveform = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
        path = write_wav(waveform, self.rate, workdir, task)
        text = f"{len(samples) / rate:.1f} s of audio converted to {self.voice}: {len(waveform) / self.rate:.1f} s"
        return {"text": text, "audio": path}
