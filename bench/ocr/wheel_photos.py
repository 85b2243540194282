"""Photographs that PyPI packages ship inside their wheels, fetched from the package index
(``pip download --no-deps``, no install) for a second held-out set that nothing in omnidex was
ever tuned on: imgaug's quokka, insightface's group photo, glymur's JPEG 2000 photographs (a
clown fish, a street scene) and PyWavelets' aerial view and staircase (grey-scale).

The wheels are kept in ``$OMNIDEX_BENCH_CACHE`` (default ``~/.cache/omnidex/bench-wheels``); a
package the index cannot give is left out with a line on stderr, so the set may be smaller
where the index is out of reach.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

# package==version -> [(member in the wheel, name)]
WHEELS = {
    "imgaug==0.4.0": [("imgaug/quokka.jpg", "quokka")],
    "insightface==2.1": [("insightface/data/images/t1.jpg", "group")],
    "glymur==0.14.8": [("glymur/data/nemo.jp2", "nemo"), ("glymur/data/goodstuff.j2k", "street")],
    "pywavelets==1.9.0": [("pywt/data/aero.npz", "aero"), ("pywt/data/ascent.npz", "ascent")],
}
# more photographs for *training* (bench/ocr/train_trigger.py), never for evaluation: nothing here
# overlaps the held-out set above
TRAIN_WHEELS = {
    "gradio==6.31.0": [("gradio/media_assets/images/cheetah.jpg", "cheetah"), ("gradio/media_assets/images/groot.jpeg", "groot"),
                       ("gradio/media_assets/images/tower.jpg", "tower"), ("gradio/test_data/cheetah2.jpg", "cheetah2")],
    "ultralytics==8.4.190": [("ultralytics/assets/bus.jpg", "bus"), ("ultralytics/assets/zidane.jpg", "zidane")],
}


def cache_dir() -> Path:
    return Path(os.environ.get("OMNIDEX_BENCH_CACHE", Path.home() / ".cache" / "omnidex" / "bench-wheels"))


def _wheel(spec: str, folder: Path) -> Path | None:
    name = spec.split("==")[0].replace("-", "_").lower()
    version = spec.split("==")[1]
    found = [p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{name}-{version}-")]
    if found:
        return found[0]
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        "-d", str(folder), spec], capture_output=True, text=True, timeout=300)
    found = [p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{name}-{version}-")]
    if not found:
        print(f"wheel_photos: {spec} not available ({r.stderr.strip()[-200:]})", file=sys.stderr)
        return None
    return found[0]


def photos(max_side: int = 1024, wheels: dict | None = None) -> dict:
    """name -> RGB PIL image at most ``max_side`` px, for each photograph the index could give
    (``wheels``: package==version -> members, default :data:`WHEELS`, the held-out set)."""
    import numpy as np
    from PIL import Image

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for spec, members in (WHEELS if wheels is None else wheels).items():
        wheel = _wheel(spec, folder)
        if wheel is None:
            continue
        with zipfile.ZipFile(wheel) as z:
            for member, name in members:
                data = z.read(member)
                if member.endswith(".npz"):
                    grey = np.load(io.BytesIO(data))["data"]
                    img = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB")
                else:
                    img = Image.open(io.BytesIO(data)).convert("RGB")
                img.thumbnail((max_side, max_side))
                out[name] = img
    return out
