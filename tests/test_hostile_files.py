"""Files that are not what they claim: an image declaring billions of pixels, FIFOs given as a plan
or a controller. Each gets one line and bounded memory, never a hang or a traceback."""

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from models.media import MAX_IMAGE_PIXELS, MediaError, load_image
from tests.conftest import ROOT


def png_declaring(path, width, height):
    """A tiny PNG whose header declares width x height (the pixel data is one short row)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [12_000, 20_000])
def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(tmp_path, side):
    assert side * side > MAX_IMAGE_PIXELS
    with pytest.raises(MediaError, match="bomb.png declares .*pixels.* 40 megapixels"):
        load_image(png_declaring(tmp_path / "bomb.png", side, side))


def test_a_fifo_is_not_an_image(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(MediaError, match="not a regular file"):
        load_image(tmp_path / "pipe.png")


def _cli(tmp_path, *args):
    env = {**os.environ, "JARVIS_DATA_DIR": str(tmp_path / "data"), "JARVIS_CONFIG_DIR": str(tmp_path / "config")}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("option", ["--plan", "--controller"])
def test_a_fifo_given_as_plan_or_controller_is_refused_at_once(tmp_path, option):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = _cli(tmp_path, "ask", "hello", option, str(fifo))
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_canny_control_on_a_pixel_bomb_fails_in_one_line(tmp_path):
    bomb = png_declaring(tmp_path / "bomb.png", 12_000, 12_000)
    done = _cli(tmp_path, "run", "canny-control", "--file", str(bomb))
    assert done.returncode != 0
    assert "megapixels" in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_text_that_is_not_utf8_is_read_with_replacement_characters(tmp_path):
    env = {**os.environ, "JARVIS_DATA_DIR": str(tmp_path / "data"), "JARVIS_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "sentence-similarity", "--json",
                           "--text", b"caf\xe9 au lait", "--text", b"\xff\xfe coffee"],
                          env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr and -1 <= json.loads(done.stdout)["outputs"]["score"] <= 1


def test_a_file_name_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    named = os.fsencode(tmp_path) + b"/photo-\xff.png"
    png_declaring(Path(os.fsdecode(named)), 8, 8)
    env = {**os.environ, "JARVIS_DATA_DIR": str(tmp_path / "data"), "JARVIS_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "ask", "describe it", "--file", named],
                          env=env, cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 2
    assert b"not valid UTF-8" in done.stderr and b"Traceback" not in done.stderr
