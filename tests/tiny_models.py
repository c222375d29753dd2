"""Tiny random-weight models for every runner, built offline in a second or two each.

Each builder writes a complete model folder (safetensors weights, config, tokenizer or
processor) the way `save_pretrained` does for real models, so the product's loading code is what
reads them. `TinyModels` builds each once per session and installs copies into a data folder as
imported models (`<data>/models/<name>/` with a `jarvis-model.json` manifest).

The weights are random: tests check the kind and shape of outputs, not their meaning. Where a
random model would never cross a threshold (detection scores), its head's bias is set so it does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

WORDS = ("the a an is are was of to in on at and or it this that what where who which how cat cats dog "
         "sat mat sits rug kitten paris france capital city berlin germany sarah lives works london photo "
         "image picture red blue green car tree house man woman speech hello world good bad").split()
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789.,?!'-:")
LABELS = ("cat", "dog", "car")  # the classes of the tiny classifiers and detectors
IMAGE_SIZE = 32
SAMPLING_RATE = 16000


# -- shared parts ---------------------------------------------------------------------------------

def bert_vocab() -> dict[str, int]:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *CHARS, *("##" + c for c in CHARS)]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def bert_tokenizer(**kwargs):
    from transformers import BertTokenizer

    return BertTokenizer(vocab=bert_vocab(), model_max_length=64, **kwargs)


def image_processor():
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})


def bert_config(**kwargs):
    from transformers import BertConfig

    return BertConfig(vocab_size=len(bert_vocab()), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=37, max_position_embeddings=64, **kwargs)


def label_maps(labels) -> dict:
    return {"id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}


def save(folder: Path, *parts) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    for part in parts:
        if hasattr(part, "save_pretrained") and hasattr(part, "state_dict"):
            part.save_pretrained(folder, safe_serialization=True)
        else:
            part.save_pretrained(folder)


def short_answers(model) -> None:
    """A few words, never none: random weights would otherwise stop at once, run to the limit or
    repeat a special token that decoding drops."""
    vocab = bert_vocab()
    model.generation_config.max_new_tokens = 6
    model.generation_config.min_new_tokens = 3
    model.generation_config.suppress_tokens = [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[MASK]")]


def _seed() -> None:
    import torch

    torch.manual_seed(0)


# -- text -----------------------------------------------------------------------------------------

def text_classification(folder: Path) -> None:
    from transformers import BertForSequenceClassification

    _seed()
    model = BertForSequenceClassification(bert_config(**label_maps(["NEGATIVE", "POSITIVE"])))
    save(folder, model, bert_tokenizer())


def token_classification(folder: Path) -> None:
    import torch
    from transformers import BertForTokenClassification

    _seed()
    model = BertForTokenClassification(bert_config(**label_maps(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])))
    with torch.no_grad():  # every word an entity start, so the merge and spans are exercised
        model.classifier.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 8.0, 0.0]))
    save(folder, model, bert_tokenizer())


def zero_shot_classification(folder: Path) -> None:
    from transformers import BertForSequenceClassification

    _seed()
    model = BertForSequenceClassification(bert_config(**label_maps(["contradiction", "neutral", "entailment"])))
    save(folder, model, bert_tokenizer())


def question_answering(folder: Path) -> None:
    from transformers import BertForQuestionAnswering

    _seed()
    save(folder, BertForQuestionAnswering(bert_config()), bert_tokenizer())


def fill_mask(folder: Path) -> None:
    from transformers import BertForMaskedLM

    _seed()
    save(folder, BertForMaskedLM(bert_config()), bert_tokenizer())


def sentence_similarity(folder: Path) -> None:
    from transformers import BertModel

    _seed()
    save(folder, BertModel(bert_config()), bert_tokenizer())


def t5(folder: Path) -> None:
    """One tiny T5 serves summarization, translation and text2text, as t5-small does, with the
    same `task_specific_params` prefixes."""
    from transformers import T5Config, T5ForConditionalGeneration

    _seed()
    vocab = bert_vocab()
    config = T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=37, num_layers=1, num_decoder_layers=1,
                      num_heads=2, pad_token_id=vocab["[PAD]"], eos_token_id=vocab["[SEP]"],
                      decoder_start_token_id=vocab["[PAD]"],
                      task_specific_params={"summarization": {"prefix": "summarize: "},
                                            "translation_en_to_de": {"prefix": "translate English to German: "}})
    model = T5ForConditionalGeneration(config)
    short_answers(model)
    save(folder, model, bert_tokenizer())


def causal_lm(folder: Path) -> None:
    """A Llama-architecture chat model (the family of Qwen2.5 and SmolLM2), with a chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    _seed()
    vocab = bert_vocab()
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         bos_token_id=vocab["[CLS]"], eos_token_id=vocab["[SEP]"], pad_token_id=vocab["[PAD]"])
    tokenizer = bert_tokenizer()
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}assistant:{% endif %}")
    model = LlamaForCausalLM(config)
    short_answers(model)
    save(folder, model, tokenizer)


# -- vision ---------------------------------------------------------------------------------------

def vit_config(**kwargs):
    from transformers import ViTConfig

    return ViTConfig(image_size=IMAGE_SIZE, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=37, **kwargs)


def image_classification(folder: Path) -> None:
    from transformers import ViTForImageClassification

    _seed()
    save(folder, ViTForImageClassification(vit_config(**label_maps(LABELS))), image_processor())


def zero_shot_image_classification(folder: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    _seed()
    vocab = bert_vocab()
    text = {"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 64, "eos_token_id": vocab["[SEP]"],
            "bos_token_id": vocab["[CLS]"], "pad_token_id": vocab["[PAD]"]}
    vision = {"image_size": IMAGE_SIZE, "patch_size": 8, "hidden_size": 32, "intermediate_size": 37,
              "num_hidden_layers": 1, "num_attention_heads": 2}
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                   crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    save(folder, model, processor, bert_tokenizer())


def siglip(folder: Path) -> None:
    """SigLIP: zero-shot image labels scored each on its own (sigmoid), text padded to full length."""
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    _seed()
    text = {"vocab_size": len(bert_vocab()), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 64}
    vision = {"image_size": IMAGE_SIZE, "patch_size": 8, "hidden_size": 32, "intermediate_size": 37,
              "num_hidden_layers": 1, "num_attention_heads": 2}
    processor = SiglipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    save(folder, SiglipModel(SiglipConfig(text_config=text, vision_config=vision)), processor, bert_tokenizer())


def object_detection(folder: Path) -> None:
    """YOLOS (a ViT with detection tokens), its class head biased towards "cat"."""
    import torch
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    _seed()
    config = YolosConfig(image_size=[IMAGE_SIZE, IMAGE_SIZE], patch_size=8, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=37, num_detection_tokens=4, **label_maps(LABELS))
    model = YolosForObjectDetection(config)
    with torch.no_grad():
        model.class_labels_classifier.layers[-1].bias[0] = 12.0
    processor = YolosImageProcessor(size={"shortest_edge": IMAGE_SIZE, "longest_edge": IMAGE_SIZE})
    save(folder, model, processor)


def image_segmentation(folder: Path) -> None:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    _seed()
    config = SegformerConfig(num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[16], patch_sizes=[7],
                             strides=[4], num_attention_heads=[1], mlp_ratios=[2], decoder_hidden_size=16,
                             **label_maps(("sky", "grass", "road")))
    processor = SegformerImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    save(folder, SegformerForSemanticSegmentation(config), processor)


def depth_estimation(folder: Path) -> None:
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    _seed()
    config = DPTConfig(image_size=IMAGE_SIZE, patch_size=8, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                       intermediate_size=37, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 8, 8],
                       fusion_hidden_size=16, head_in_index=-1)
    processor = DPTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, keep_aspect_ratio=False)
    save(folder, DPTForDepthEstimation(config), processor)


def image_to_text(folder: Path) -> None:
    """ViT encoder + GPT-2 decoder, the shape of nlpconnect/vit-gpt2-image-captioning (and of Donut
    for document questions)."""
    from transformers import GPT2Config, GPT2LMHeadModel, ViTModel, VisionEncoderDecoderModel

    _seed()
    vocab = bert_vocab()
    decoder = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=1, n_head=2, n_positions=64,
                                         add_cross_attention=True, is_decoder=True, bos_token_id=vocab["[CLS]"],
                                         eos_token_id=vocab["[SEP]"], pad_token_id=vocab["[PAD]"]))
    model = VisionEncoderDecoderModel(encoder=ViTModel(vit_config(), add_pooling_layer=False), decoder=decoder)
    model.config.decoder_start_token_id = vocab["[CLS]"]
    model.config.pad_token_id = vocab["[PAD]"]
    model.config.eos_token_id = vocab["[SEP]"]
    model.generation_config.decoder_start_token_id = vocab["[CLS]"]
    model.generation_config.pad_token_id = vocab["[PAD]"]
    model.generation_config.eos_token_id = vocab["[SEP]"]
    short_answers(model)
    save(folder, model, image_processor(), bert_tokenizer())


def visual_question_answering(folder: Path) -> None:
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessor

    _seed()
    config = ViltConfig(vocab_size=len(bert_vocab()), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=40, image_size=IMAGE_SIZE, patch_size=8,
                        **label_maps(("yes", "no", "two", "red")))
    processor = ViltImageProcessor(size={"shortest_edge": IMAGE_SIZE}, size_divisor=8)
    save(folder, ViltForQuestionAnswering(config), processor, bert_tokenizer())


def blip_vqa(folder: Path) -> None:
    """BLIP, which writes its answer to a visual question (ViLT picks one from a list)."""
    from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessor

    _seed()
    vocab = bert_vocab()
    text = {"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 64, "bos_token_id": vocab["[CLS]"],
            "eos_token_id": vocab["[SEP]"], "pad_token_id": vocab["[PAD]"], "sep_token_id": vocab["[SEP]"]}
    vision = {"image_size": IMAGE_SIZE, "patch_size": 8, "hidden_size": 32, "intermediate_size": 37,
              "num_hidden_layers": 1, "num_attention_heads": 2}
    model = BlipForQuestionAnswering(BlipConfig(text_config=text, vision_config=vision, projection_dim=16))
    model.config.decoder_start_token_id = vocab["[CLS]"]
    short_answers(model)
    save(folder, model, BlipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}), bert_tokenizer())


# -- diffusion ------------------------------------------------------------------------------------

def clip_bpe_tokenizer():
    """A CLIP tokenizer over single characters (no merges): enough for a pipeline to encode prompts."""
    from transformers import CLIPTokenizer

    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,'!?-")
    tokens = ["<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters)]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=16)


def stable_diffusion(folder: Path) -> None:
    """A complete Stable Diffusion pipeline (UNet, VAE, CLIP text encoder, DDIM) drawing 32x32
    images; its manifest asks for 2 steps. Serves text-to-image and image-to-image."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import logging as diffusers_logging
    from transformers import CLIPTextConfig, CLIPTextModel

    _seed()
    diffusers_logging.disable_progress_bar()
    tokenizer = clip_bpe_tokenizer()
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=IMAGE_SIZE // 2,
                                in_channels=4, out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=4)
    vae = AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        norm_num_groups=4, sample_size=IMAGE_SIZE)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1))
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                              clip_sample=False, set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)


# -- audio ----------------------------------------------------------------------------------------

def whisper(folder: Path) -> None:
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    _seed()
    vocab = bert_vocab()
    config = WhisperConfig(vocab_size=len(vocab), d_model=32, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=37,
                           decoder_ffn_dim=37, num_mel_bins=80, max_source_positions=1500, max_target_positions=64,
                           decoder_start_token_id=vocab["[CLS]"], bos_token_id=vocab["[CLS]"],
                           eos_token_id=vocab["[SEP]"], pad_token_id=vocab["[PAD]"], begin_suppress_tokens=None,
                           suppress_tokens=None)
    model = WhisperForConditionalGeneration(config)
    model.generation_config._from_model_config = False  # else a reload forgets its generation settings
    short_answers(model)
    save(folder, model, WhisperFeatureExtractor(feature_size=80, sampling_rate=SAMPLING_RATE), bert_tokenizer())


def wav2vec2_config(**kwargs):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                          conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                          num_conv_pos_embedding_groups=2, **kwargs)


def wav2vec2_features():
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLING_RATE, padding_value=0.0,
                                    do_normalize=True, return_attention_mask=False)


def speech_ctc(folder: Path) -> None:
    """wav2vec2 with a CTC head over letters, the other kind of speech recogniser."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC

    _seed()
    letters = ["<pad>", "<s>", "</s>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz'"]
    vocab_file = folder / "vocab.json"
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file.write_text(json.dumps({c: i for i, c in enumerate(letters)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file))
    model = Wav2Vec2ForCTC(wav2vec2_config(vocab_size=len(letters), pad_token_id=0))
    save(folder, model, wav2vec2_features(), tokenizer)


def audio_classification(folder: Path) -> None:
    from transformers import Wav2Vec2ForSequenceClassification

    _seed()
    model = Wav2Vec2ForSequenceClassification(wav2vec2_config(classifier_proj_size=16,
                                                              **label_maps(("speech", "music", "dog bark"))))
    save(folder, model, wav2vec2_features())


def text_to_speech(folder: Path) -> None:
    """VITS (the MMS-TTS architecture) over a hand-written character vocabulary."""
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    _seed()
    characters = ["k", *" abcdefghijklmnopqrstuvwxyz'.,?!-"]  # MMS vocabularies start with their pad token
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps({c: i for i, c in enumerate(characters)}))
    tokenizer = VitsTokenizer(str(vocab_file), pad_token="k", unk_token="<unk>", add_blank=True, normalize=True,
                              phonemize=False)
    config = VitsConfig(vocab_size=len(characters), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        ffn_dim=32, flow_size=16, spectrogram_bins=33, upsample_initial_channel=16,
                        upsample_rates=[8, 8], upsample_kernel_sizes=[16, 16], resblock_kernel_sizes=[3],
                        resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=1, prior_encoder_num_wavenet_layers=1,
                        posterior_encoder_num_wavenet_layers=1, duration_predictor_filter_channels=16,
                        use_stochastic_duration_prediction=False, sampling_rate=SAMPLING_RATE)
    save(folder, VitsModel(config), tokenizer)


# -- which builder serves which task, and installing into a data folder ----------------------------

FOR_TASK: dict[str, Callable[[Path], None]] = {
    "text-classification": text_classification, "token-classification": token_classification,
    "zero-shot-classification": zero_shot_classification, "question-answering": question_answering,
    "summarization": t5, "translation": t5, "text2text-generation": t5,
    "text-generation": causal_lm, "conversational": causal_lm,
    "sentence-similarity": sentence_similarity, "fill-mask": fill_mask,
    "image-classification": image_classification, "zero-shot-image-classification": zero_shot_image_classification,
    "object-detection": object_detection, "image-segmentation": image_segmentation,
    "depth-estimation": depth_estimation, "image-to-text": image_to_text,
    "visual-question-answering": visual_question_answering, "document-question-answering": image_to_text,
    "text-to-image": stable_diffusion, "image-to-image": stable_diffusion,
    "automatic-speech-recognition": whisper, "audio-classification": audio_classification,
    "text-to-speech": text_to_speech,
}
# What a manifest may add for a builder's models (diffusion: two steps are plenty for a test).
MANIFEST_OPTIONS = {stable_diffusion: {"inference_steps": 2}}


class TinyModels:
    """Builds each tiny model once into `root` (a finished build is marked, so several
    `TinyModels` on one root, one per test module, share the builds) and installs copies into
    data folders."""

    DONE = ".built"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, builder: Callable[[Path], None]) -> Path:
        folder = self.root / builder.__name__
        if not (folder / self.DONE).exists():
            if folder.exists():
                shutil.rmtree(folder)
            builder(folder)
            (folder / self.DONE).touch()
        return folder

    def install(self, task: str, data_dir: Path, builder: Callable[[Path], None] | None = None,
                model_id: str | None = None) -> str:
        """Copy the tiny model for `task` into `<data_dir>/models/` as an imported model; its id."""
        builder = builder or FOR_TASK[task]
        model_id = model_id or f"tiny/{task}"
        target = Path(data_dir) / "models" / model_id.replace("/", "--")
        shutil.copytree(self.folder(builder), target, ignore=shutil.ignore_patterns(self.DONE))
        manifest = {"id": model_id, "task": task, "description": f"tiny random {builder.__name__} (tests)",
                    **MANIFEST_OPTIONS.get(builder, {})}
        (target / "jarvis-model.json").write_text(json.dumps(manifest))
        return model_id


# -- fixtures for the test modules that use these models -------------------------------------------

@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    return TinyModels(tmp_path_factory.getbasetemp() / "tiny-models")


@pytest.fixture(scope="module", autouse=False)
def one_torch_thread():
    """Tiny models run fastest on one thread; on a shared, busy CPU several torch threads waiting
    on each other make them 100 times slower. Restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- sample inputs --------------------------------------------------------------------------------

def sample_image(path: Path, size: tuple[int, int] = (48, 40)) -> Path:
    """A small PNG with a bright square on a gradient (not square, so sizes are checked both ways)."""
    from PIL import Image

    width, height = size
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    pixels[..., 2] = np.linspace(255, 0, height, dtype=np.uint8)[:, None]
    pixels[height // 4: height // 2, width // 4: width // 2] = 255
    Image.fromarray(pixels).save(path)
    return Path(path)


def sample_audio(path: Path, seconds: float = 0.5, rate: int = 22050) -> Path:
    """A short tone with a glide, at a rate the models do not use (so resampling is exercised)."""
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    samples = 0.3 * np.sin(2 * np.pi * (300 + 400 * t) * t)
    soundfile.write(str(path), samples.astype(np.float32), rate)
    return Path(path)
