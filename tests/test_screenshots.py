"""scripts/screenshots.py runs real requests in the real window and renders every view at both sizes."""

import importlib.util
from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screenshots.py"


def test_screenshots_are_window_sized_pngs_of_real_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    screenshots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshots)
    paths = screenshots.main(["--out", str(tmp_path / "shots")])
    expected = [f"{name}{suffix}.png" for name in screenshots.NAMES for suffix in screenshots.SIZES]
    assert sorted(p.name for p in paths) == sorted(expected)
    for path in paths:
        assert path.stat().st_size > 10_000, path  # a blank window compresses to a few KB
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            suffix = "-900" if path.stem.endswith("-900") else ""
            assert image.size == screenshots.SIZES[suffix], path  # the window really takes each size
            assert len(image.convert("L").getcolors(maxcolors=1_000_000)) > 50  # not a flat colour
