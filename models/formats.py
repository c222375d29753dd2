"""What a model folder or file holds, read from disk without loading any weights: weight format,
safetensors and GGUF headers checked against the file size (a truncated copy is caught here),
file hashes, and the task a transformers/diffusers folder serves, inferred from its configs."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from common.cancel import CancelToken

CHUNK = 1 << 20
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".joblib")
# Files a local PyTorch/safetensors run never reads: other frameworks' weights, training state,
# pictures and samples of the model card.
OTHER_FRAMEWORKS = (".h5", ".msgpack", ".onnx", ".onnx_data", ".tflite", ".ot", ".ckpt", ".pb", ".keras",
                    ".mlmodel", ".mlpackage", ".npz", ".nemo")
NOT_NEEDED = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".wav", ".mp3", ".flac", ".pdf")
OTHER_FRAMEWORK_DIRS = {"onnx", "openvino", "coreml", "tflite", "flax", "tensorflow", "tf"}
TRAINING_FILES = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", ".gitattributes"}


class FormatError(ValueError):
    """A weights file is not what it claims to be, or is cut short."""


# -- weight formats -----------------------------------------------------------------------------

def weight_format(path: Path) -> str | None:
    """'safetensors' wins over 'pickle' when a folder has both (the runtime loads safetensors)."""
    path = Path(path)
    if path.is_file():
        return "gguf" if path.suffix.lower() == ".gguf" else None
    names = [p.name.lower() for p in path.rglob("*") if p.is_file()]
    if any(n.endswith(".safetensors") for n in names):
        return "safetensors"
    if any(n.endswith(PICKLE_SUFFIXES) for n in names):
        return "pickle"
    if any(n.endswith(".gguf") for n in names):
        return "gguf"
    return None


def needed_for_inference(rel_path: str) -> bool:
    """False for files of other frameworks, training state and model-card media."""
    name = rel_path.rsplit("/", 1)[-1].lower()
    folders = rel_path.lower().split("/")[:-1]
    return not (name in TRAINING_FILES or name.endswith(OTHER_FRAMEWORKS + NOT_NEEDED)
                or OTHER_FRAMEWORK_DIRS.intersection(folders))


# -- hashing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileHash:
    size: int
    sha256: str
    git_sha1: str  # what git (and the Hub, for files not in LFS) calls the file's oid


def hash_file(path: Path, cancel: CancelToken | None = None) -> FileHash:
    """sha256 and git blob sha1 in one pass; `cancel` stops it between chunks (InterruptedError)."""
    size = Path(path).stat().st_size
    sha256 = hashlib.sha256()
    git = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha256.update(chunk)
            git.update(chunk)
            if cancel is not None and cancel.cancelled:
                raise InterruptedError("hashing cancelled")
    return FileHash(size, sha256.hexdigest(), git.hexdigest())


# -- safetensors --------------------------------------------------------------------------------

def check_safetensors(path: Path) -> int:
    """Validate the header against the file size; returns the number of tensors."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise FormatError(f"{path.name}: too short to be a safetensors file ({size} bytes)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(100 << 20, size - 8):
            raise FormatError(f"{path.name}: not a safetensors file (header length {header_len} "
                              f"does not fit in {size} bytes)")
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, ValueError) as error:
            raise FormatError(f"{path.name}: unreadable safetensors header ({error})") from error
    if not isinstance(header, dict):
        raise FormatError(f"{path.name}: the safetensors header is not a JSON object")
    spans = sorted(_tensor_span(path.name, name, info) for name, info in header.items() if name != "__metadata__")
    # The format's rule: the tensors tile the data buffer exactly, in any order, no gaps or overlaps.
    end = 0
    for begin, stop, name in spans:
        if begin != end:
            raise FormatError(f"{path.name}: tensor {name!r} starts at byte {begin} of the data, expected {end} "
                              "(tensors overlap or leave a gap)")
        end = stop
    expected = 8 + header_len + end
    if size < expected:
        raise FormatError(f"{path.name}: truncated: the header describes {expected} bytes, "
                          f"the file has {size}")
    if size > expected:
        raise FormatError(f"{path.name}: {size - expected} unexpected bytes after the tensors")
    return len(spans)


# Bits per element of each safetensors dtype.
SAFETENSORS_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
                    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64,
                    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}


def _tensor_span(file: str, name: str, info) -> tuple[int, int, str]:
    """(begin, stop, name) of one tensor, checked: its dtype and shape fill exactly its offsets."""
    try:
        begin, stop = info["data_offsets"]
        dtype, shape = info["dtype"], list(info["shape"])
    except (TypeError, KeyError, ValueError) as error:
        raise FormatError(f"{file}: tensor {name!r} lacks its dtype, shape or data offsets") from error
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (begin, stop, *shape)):
        raise FormatError(f"{file}: tensor {name!r} has impossible offsets or shape")
    if begin > stop:
        raise FormatError(f"{file}: tensor {name!r} has impossible offsets {begin}..{stop}")
    if dtype not in SAFETENSORS_BITS:
        raise FormatError(f"{file}: tensor {name!r} has an unknown dtype {str(dtype)[:20]!r}")
    elements = 1
    for n in shape:
        elements *= n
    needed = -(-elements * SAFETENSORS_BITS[dtype] // 8)
    if needed != stop - begin:
        raise FormatError(f"{file}: tensor {name!r} ({dtype} {shape}) needs {needed} bytes but its offsets "
                          f"hold {stop - begin}")
    return begin, stop, name


# -- GGUF ---------------------------------------------------------------------------------------
# Read by hand rather than with the `gguf` package: that maps the whole file through numpy and is
# not otherwise a dependency; this reads only the header and tensor table, with bounds.

GGUF_MAGIC = b"GGUF"
# ggml tensor types: (elements per block, bytes per block). Types missing here are only checked
# for starting inside the file.
GGML_TYPES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# Bounds on a header, far above any real model's (a chat template is tens of KiB, arrays are never
# nested), so crafted metadata ends in a FormatError instead of memory, recursion or a stack trace.
MAX_GGUF_STRING = 16 << 20
MAX_GGUF_NESTING = 3


@dataclass(frozen=True)
class GGUFInfo:
    version: int
    tensors: int
    metadata: dict  # scalar and string values only; arrays (the vocabulary) are skipped
    data_end: int  # where the last tensor ends: the smallest size a complete file can have

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", ""))


class _Reader:
    def __init__(self, handle, size: int, label: str) -> None:
        self.handle, self.size, self.label = handle, size, label

    def read(self, count: int) -> bytes:
        data = self.handle.read(count)
        if len(data) < count:
            raise FormatError(f"{self.label}: truncated inside the GGUF header")
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def _length(self) -> int:
        length = self.unpack("<Q")
        if length > min(self.size, MAX_GGUF_STRING):
            raise FormatError(f"{self.label}: corrupt GGUF header (string of {length} bytes)")
        return length

    def string(self) -> str:
        return self.read(self._length()).decode("utf-8", errors="replace")

    def skip(self, count: int) -> None:
        self.handle.seek(count, 1)
        if self.handle.tell() > self.size:
            raise FormatError(f"{self.label}: truncated inside the GGUF header")

    def value(self, kind: int, depth: int = 0):
        """A scalar or string value; arrays (the vocabulary, merges) are skipped and give None."""
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            if depth >= MAX_GGUF_NESTING:
                raise FormatError(f"{self.label}: corrupt GGUF header (arrays nested deeper than {MAX_GGUF_NESTING})")
            item_kind, count = self.unpack("<I"), self.unpack("<Q")
            if count > self.size:
                raise FormatError(f"{self.label}: corrupt GGUF header (array of {count} items)")
            if item_kind in _SCALARS:  # skip numeric arrays without decoding them
                self.skip(struct.calcsize(_SCALARS[item_kind]) * count)
            elif item_kind == _STRING:
                for _ in range(count):
                    self.skip(self._length())
            else:
                for _ in range(count):
                    self.value(item_kind, depth + 1)
            return None
        raise FormatError(f"{self.label}: corrupt GGUF header (value type {kind})")


def read_gguf(path: Path) -> GGUFInfo:
    """Parse a GGUF header and tensor table; raise FormatError if the file is not a GGUF or is
    shorter than its tensor table says."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        reader = _Reader(handle, size, path.name)
        if handle.read(4) != GGUF_MAGIC:
            raise FormatError(f"{path.name}: not a GGUF file (no GGUF magic)")
        version = reader.unpack("<I")
        if version not in (2, 3):
            raise FormatError(f"{path.name}: GGUF version {version} is not supported (2 and 3 are)")
        tensor_count, kv_count = reader.unpack("<Q"), reader.unpack("<Q")
        if tensor_count > 1_000_000 or kv_count > 1_000_000:
            raise FormatError(f"{path.name}: corrupt GGUF header ({tensor_count} tensors, {kv_count} keys)")
        metadata = {}
        for _ in range(kv_count):
            key = reader.string()
            value = reader.value(reader.unpack("<I"))
            if value is not None:
                metadata[key] = value
        end = 0
        tensors = []
        for _ in range(tensor_count):
            name = reader.string()
            n_dims = reader.unpack("<I")
            if n_dims > 8:
                raise FormatError(f"{path.name}: corrupt GGUF tensor table ({name} has {n_dims} dimensions)")
            elements = 1
            for _ in range(n_dims):
                elements *= reader.unpack("<Q")
            kind, offset = reader.unpack("<I"), reader.unpack("<Q")
            tensors.append((offset, kind, elements))
        alignment = metadata.get("general.alignment", 32)
        if not isinstance(alignment, int) or isinstance(alignment, bool) or not 1 <= alignment <= 1 << 20:
            raise FormatError(f"{path.name}: corrupt GGUF header (alignment {str(alignment)[:20]})")
        data_start = -(-handle.tell() // alignment) * alignment
    for offset, kind, elements in tensors:
        block, width = GGML_TYPES.get(kind, (1, 0))
        end = max(end, data_start + offset + elements // block * width)
    if size < end:
        raise FormatError(f"{path.name}: truncated: its tensors need {end} bytes, the file has {size}")
    if tensor_count == 0:
        raise FormatError(f"{path.name}: a GGUF with no tensors is not a model")
    return GGUFInfo(version, tensor_count, metadata, end)


def leading_metadata(path: Path, suffixes: tuple[str, ...]) -> dict:
    """The GGUF metadata values whose keys are `<arch>.<suffix>` (suffixes such as
    "context_length", "block_count"), reading only until all are found: the architecture's keys
    come before the vocabulary, which takes a second to walk. Keys not found are absent."""
    path = Path(path)
    size = path.stat().st_size
    found: dict = {}
    with open(path, "rb") as handle:
        reader = _Reader(handle, size, path.name)
        if handle.read(4) != GGUF_MAGIC or reader.unpack("<I") not in (2, 3):
            return found
        _tensors, kv_count = reader.unpack("<Q"), reader.unpack("<Q")
        arch = ""
        for _ in range(min(kv_count, 1_000_000)):
            key = reader.string()
            value = reader.value(reader.unpack("<I"))
            if key == "general.architecture" and isinstance(value, str):
                arch = value
            elif arch and key.startswith(arch + ".") and key[len(arch) + 1:] in suffixes:
                found[key[len(arch) + 1:]] = value
                if len(found) == len(suffixes):
                    break
    return found


def trained_context(path: Path) -> int | None:
    """The context length a GGUF was trained for (`<arch>.context_length`)."""
    value = leading_metadata(path, ("context_length",)).get("context_length")
    return value if isinstance(value, int) else None


# -- task inference -----------------------------------------------------------------------------

_SUFFIX_TASKS = (
    ("ForSequenceClassification", "text-classification"),
    ("ForAudioClassification", "audio-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForVisualQuestionAnswering", "visual-question-answering"),
    ("ForDocumentQuestionAnswering", "document-question-answering"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForZeroShotImageClassification", "zero-shot-image-classification"),
    ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"),
    ("Segmentation", "image-segmentation"),
    ("ForDepthEstimation", "depth-estimation"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForSpeechSeq2Seq", "automatic-speech-recognition"),
    ("ForTextToSpeech", "text-to-speech"),
    ("ForSpeechToSpeech", "audio-to-audio"),
    ("ForVision2Seq", "image-to-text"),
    ("ForImageTextToText", "image-to-text"),
    ("MTModel", "translation"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("ForSeq2SeqLM", "text2text-generation"),
)
# model_type decides where the class name alone is ambiguous.
_TYPE_TASKS = {
    "whisper": "automatic-speech-recognition", "speech_to_text": "automatic-speech-recognition",
    "marian": "translation", "vits": "text-to-speech", "vision-encoder-decoder": "image-to-text",
    "blip": "image-to-text", "git": "image-to-text", "pix2struct": "image-to-text",
    "clip": "zero-shot-image-classification", "siglip": "zero-shot-image-classification",
    "chinese_clip": "zero-shot-image-classification", "t5": "text2text-generation", "mt5": "text2text-generation",
}
_AUDIO_TYPES = {"wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "ast",
                "whisper", "audio-spectrogram-transformer", "sew", "sew-d", "wav2vec2-conformer"}


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def infer_task(folder: Path) -> str | None:
    """The task a model folder serves, from its configs; None when they do not say."""
    folder = Path(folder)
    pipeline = _read_json(folder / "model_index.json").get("_class_name", "")
    if pipeline:
        if "Pix2Pix" in pipeline:
            return "image-editing"
        if "Img2Img" in pipeline or "Inpaint" in pipeline:
            return "image-to-image"
        if "Video" in pipeline:
            return "text-to-video"
        return "text-to-image"
    if (folder / "modules.json").is_file() or (folder / "config_sentence_transformers.json").is_file():
        return "sentence-similarity"
    config = _read_json(folder / "config.json")
    return task_from_config(config) if config else None


def task_from_config(config: dict) -> str | None:
    model_type = str(config.get("model_type", ""))
    architectures = config.get("architectures") or []
    arch = str(architectures[0]) if architectures else ""
    if model_type == "blip" and "QuestionAnswering" in arch:
        return "visual-question-answering"
    if model_type == "vilt" and "QuestionAnswering" in arch:
        return "visual-question-answering"
    if model_type.startswith("layoutlm") and "QuestionAnswering" in arch:
        return "document-question-answering"
    if model_type in _AUDIO_TYPES and "Classification" in arch:
        return "audio-classification"
    if model_type in _TYPE_TASKS:
        return _TYPE_TASKS[model_type]
    for suffix, task in _SUFFIX_TASKS:
        if suffix in arch:
            if task == "text-classification":
                labels = {str(k).lower() for k in (config.get("label2id") or {})}
                if "entailment" in labels:
                    return "zero-shot-classification"
            if task == "text2text-generation":
                specific = config.get("task_specific_params") or {}
                if list(specific) == ["summarization"] or model_type in ("pegasus", "led"):
                    return "summarization"
            return task
    return None
