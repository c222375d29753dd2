"""Hostile model files and folders: links out of the folder, safetensors whose shapes and offsets
disagree, crafted GGUF metadata. Each is one line and nothing is registered."""

import json
import os
import shutil
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main as cli
from hub_server import gguf_bytes, tiny_bert_dir
from models.errors import ModelManagerError
from models.formats import FormatError, check_safetensors, read_gguf
from models.importer import import_model
from tests.test_import import bert_folder, nothing_registered, store  # noqa: F401 - fixtures


def test_a_link_to_a_file_outside_the_folder_is_refused(store, tmp_path, bert_folder):
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    secret.chmod(0o600)
    (bert_folder / "vocab-extra.txt").symlink_to(secret)
    with pytest.raises(ModelManagerError, match="outside the folder being imported"):
        import_model(store, bert_folder, task="text-classification")
    assert nothing_registered(store)


def test_links_inside_the_folder_and_hf_cache_snapshots_are_followed(store, tmp_path):
    repo = tmp_path / "hub" / "models--acme--bert"
    snapshot = repo / "snapshots" / ("a" * 40)
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for source in tiny_bert_dir().iterdir():
        if source.is_file():
            blob = repo / "blobs" / f"blob-{source.name}"
            shutil.copyfile(source, blob)
            (snapshot / source.name).symlink_to(os.path.relpath(blob, snapshot))
    (snapshot / "config-copy.json").symlink_to("config.json")  # inside the folder itself
    record = import_model(store, snapshot, task="text-classification", model_id="acme/bert")
    assert record.size_bytes > 0 and not any(p.is_symlink() for p in (store.models_dir).rglob("*"))


def test_a_private_file_stays_private_when_copied(store, bert_folder):
    (bert_folder / "model.safetensors").chmod(0o600)
    record = import_model(store, bert_folder, task="text-classification")
    copied = next(p for p in store.models_dir.rglob("model.safetensors"))
    assert record and copied.stat().st_mode & 0o077 == 0


def safetensors_bytes(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize("header, data, message", [
    ({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 32]}}, b"\0" * 32, "needs 64 bytes"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, "overlap or leave a gap"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, b"\0" * 16, "overlap or leave a gap"),
    ({"a": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, "unknown dtype"),
    ({"a": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}}, b"\0" * 8, "impossible offsets or shape"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": ["0", 8]}}, b"\0" * 8, "impossible offsets or shape"),
    ({"a": {"dtype": "F32", "data_offsets": [0, 8]}}, b"\0" * 8, "lacks its dtype, shape"),
])
def test_safetensors_whose_shapes_do_not_match_their_offsets_are_refused(tmp_path, header, data, message):
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes(header, data))
    with pytest.raises(FormatError, match=message):
        check_safetensors(path)


def test_a_real_safetensors_file_passes_the_shape_check():
    assert check_safetensors(tiny_bert_dir() / "model.safetensors") > 10


def _string(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def gguf_with(metadata_entries: list[bytes]) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(metadata_entries)) + b"".join(metadata_entries)
    table = _string(b"w") + struct.pack("<I", 1) + struct.pack("<Q", 8) + struct.pack("<IQ", 0, 0)
    body = head + table
    return body + b"\0" * (-len(body) % 32) + b"\0" * 32


NESTED = _string(b"deep") + struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 9, 1) * 5000 + struct.pack("<IQ", 4, 0)


@pytest.mark.parametrize("entries, message", [
    ([NESTED], "nested deeper"),
    ([_string(b"big") + struct.pack("<I", 8) + struct.pack("<Q", 1 << 40)], "string of"),
    ([_string(b"general.alignment") + struct.pack("<I", 8) + _string(b"abc")], "alignment"),
    ([_string(b"general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 0)], "alignment"),
    ([_string(b"k") + struct.pack("<I", 99)], "value type 99"),
])
def test_crafted_gguf_metadata_is_a_one_line_refusal(store, tmp_path, capsys, entries, message):
    path = tmp_path / "crafted.gguf"
    path.write_bytes(gguf_with(entries))
    with pytest.raises(FormatError, match=message):
        read_gguf(path)
    assert cli(["models", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and nothing_registered(store)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=2000), flips=st.lists(st.tuples(st.integers(0, 2000),
                                                                          st.integers(0, 255)), max_size=8))
def test_random_damage_to_a_gguf_header_raises_only_format_errors(tmp_path, cut, flips):
    data = bytearray(gguf_bytes())
    for position, value in flips:
        if position < len(data):
            data[position] = value
    path = tmp_path / "damaged.gguf"
    path.write_bytes(bytes(data[:len(data) - cut]))
    try:
        read_gguf(path)
    except FormatError:
        pass
