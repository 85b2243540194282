"""Where a generated picture came from: kept in PNG text chunks and a sidecar JSON, read back by ingest."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import OmnidexError

CHUNK_KEY = "omnidex:generation"  # PNG tEXt/iTXt key holding the provenance JSON
SIDECAR_SUFFIX = ".json"  # out.png -> out.png.json
FIELDS = ("generator", "model", "prompt", "negative_prompt", "seed", "steps", "width", "height", "guidance",
          "seconds", "created")


@dataclass
class Generation:
    """One generated picture and its provenance.

    Attributes:
        image: the PIL image (RGB).
        provenance: generator ("diffusers" | "endpoint"), model, prompt, negative_prompt, seed, steps,
            width, height, guidance, seconds (wall time of the generation), created (UTC ISO time);
            values not known (an endpoint's steps) are None.
    """

    image: object
    provenance: dict


def sidecar_of(path: str | Path) -> Path:
    """The sidecar JSON of a picture: ``out.png`` -> ``out.png.json``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def save(gen: Generation, out: str | Path, sidecar: bool = True) -> Path:
    """Write ``gen`` to ``out`` (PNG unless the suffix names another format) with its provenance.

    A PNG carries the provenance JSON in a text chunk (``omnidex:generation``) plus the prompt as
    ``Description`` and ``Software`` = omnidex; the sidecar ``OUT.json`` holds the same JSON (the
    only record for formats without text chunks, e.g. JPEG).

    Returns:
        The picture's path.
    Raises:
        OmnidexError: the folder cannot be written or the suffix is not an image format.
    """
    from PIL import Image, PngImagePlugin

    out = Path(out)
    blob = json.dumps(gen.provenance, sort_keys=True)
    fmt = Image.registered_extensions().get(out.suffix.lower())
    if fmt is None:
        raise OmnidexError(f"{out}: unknown picture format {out.suffix!r} (use .png, .jpg or .webp)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt(CHUNK_KEY, blob)
            info.add_itxt("Description", str(gen.provenance.get("prompt", "")))
            info.add_text("Software", "omnidex")
            gen.image.save(out, format="PNG", pnginfo=info)
        else:
            gen.image.convert("RGB").save(out, format=fmt)
        if sidecar or fmt != "PNG":
            sidecar_of(out).write_text(json.dumps({CHUNK_KEY: gen.provenance}, indent=2, sort_keys=True) + "\n",
                                       encoding="utf-8")
    except OSError as exc:
        raise OmnidexError(f"{out}: cannot write the picture: {exc.strerror or exc}") from exc
    return out


def read_provenance(path: str | Path) -> dict | None:
    """The provenance of a generated picture (PNG chunk first, then the sidecar), or None.

    Cheap enough for ingest: a PNG's header chunks are read without decoding pixels; a missing or
    foreign sidecar, or a damaged chunk, is None (never an error).
    """
    path = Path(path)
    if path.suffix.lower() == ".png":
        try:
            from PIL import Image

            with Image.open(path) as im:
                raw = im.info.get(CHUNK_KEY)  # chunks before the pixel data; no decode
        except Exception:  # noqa: BLE001 - a damaged file is ingest's to report, not ours
            raw = None
        found = _as_dict(raw)
        if found is not None:
            return found
    side = sidecar_of(path)
    try:
        if side.is_file() and side.stat().st_size < 1_000_000:
            return _as_dict(json.loads(side.read_text(encoding="utf-8")).get(CHUNK_KEY))
    except (OSError, ValueError, AttributeError):
        return None
    return None


def _as_dict(raw) -> dict | None:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def summary(prov: dict) -> str:
    """One line: ``diffusers /models/sd15, seed 7, 30 steps, 512x512, guidance 7.5, 41.2 s``."""
    bits = [f"{prov.get('generator', '?')} {prov.get('model') or ''}".strip()]
    if prov.get("seed") is not None:
        bits.append(f"seed {prov['seed']}")
    if prov.get("steps") is not None:
        bits.append(f"{prov['steps']} steps")
    if prov.get("width") and prov.get("height"):
        bits.append(f"{prov['width']}x{prov['height']}")
    if prov.get("guidance") is not None:
        bits.append(f"guidance {prov['guidance']:g}")
    if prov.get("seconds") is not None:
        bits.append(f"{prov['seconds']:.2f} s")
    return ", ".join(bits)
