"""scripts/screenshots.py renders the four views with the real window, into any folder."""

import importlib.util
from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screenshots.py"


def test_screenshots_are_four_window_sized_pngs(tmp_path):
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    screenshots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshots)
    paths = screenshots.main(["--out", str(tmp_path / "shots")])
    assert sorted(p.name for p in paths) == sorted(f"{name}.png" for name in screenshots.NAMES)
    for path in paths:
        assert path.stat().st_size > 10_000, path  # a blank window compresses to a few KB
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.size == screenshots.WINDOW_SIZE
            assert len(image.convert("L").getcolors(maxcolors=1_000_000)) > 50  # not a flat colour
