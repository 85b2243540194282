"""``omnidex synth OUT --generator MODEL|URL``: captioned pairs drawn by an image generator.

Writes the layout ``omnidex synth`` writes and ``omnidex train`` reads as it is::

    OUT/train/00000.png ...   OUT/heldout/00000.png ...
    OUT/train.jsonl  OUT/heldout.jsonl   {"path": "train/00000.png", "caption": PROMPT, "generated": {...}}
    OUT/meta.json

Prompts come from ``--prompts FILE`` (one per line, or JSONL/CSV rows with a ``caption``), else from
the synthetic scene captions (``a small red circle on a dark background`` ...), drawn with the seed.
Every picture is generated with seed ``seed + i`` (held-out: an offset), so a set can be redrawn.
"""
from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path

from ..errors import OmnidexError
from . import from_spec, generate
from .provenance import save

HELDOUT_SEED_OFFSET = 1_000_003


def read_prompts(path: str | Path) -> list[str]:
    """Prompts from a text file (one per line; blank lines and ``#`` comments skipped), a JSONL file
    of objects with ``caption`` (or ``prompt``), or a CSV with a ``caption``/``prompt`` column.

    Raises:
        OmnidexError: the file is missing or unreadable, a JSONL line is bad (its number named), or
            no prompt is left.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise OmnidexError(f"{path}: cannot read the prompts file: {exc.strerror or exc}") from exc
    out: list[str] = []
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(str(obj.get("caption") or obj.get("prompt") or "").strip())
            except (ValueError, AttributeError):
                raise OmnidexError(f"{path}:{n}: not a JSON object with a caption") from None
            if not out[-1]:
                raise OmnidexError(f"{path}:{n}: no caption or prompt")
    elif path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        col = next((c for c in ("caption", "prompt") if rows and c in rows[0]), None)
        if col is None:
            raise OmnidexError(f"{path}: the CSV needs a 'caption' or 'prompt' column")
        out = [r[col].strip() for r in rows if (r.get(col) or "").strip()]
    else:
        out = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not out:
        raise OmnidexError(f"{path}: no prompts in it")
    return out


def scene_prompts(n: int, seed: int, split: str) -> list[str]:
    """``n`` captions of the synthetic scenes (the domain ``omnidex synth`` draws), seeded."""
    from ..testing.scenes import COLOURS, SHAPES, make_scene

    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    return [make_scene(random.Random(f"{seed}:gen:{split}:{i}"), pairs, pairs)["caption"] for i in range(n)]


def write_pairs(out: str | Path, generator: str, *, n_train: int = 100, n_heldout: int = 10, seed: int = 0,
                size: int | None = None, steps: int | None = None, guidance: float | None = None,
                prompts: list[str] | None = None, progress=None, **options) -> dict:
    """Generate captioned pairs under ``out``.

    Args:
        out: output folder.
        generator: a diffusers folder / hub id, or an endpoint URL.
        n_train, n_heldout: pictures per split. With ``prompts``, they are cycled through in order
            (the held-out split takes the prompts after the training ones).
        seed: base seed: picture i of the training split uses ``seed + i``.
        size: picture side (None: the generator's default).
        steps, guidance: passed to the generator.
        prompts: the prompts (None: synthetic scene captions).
        progress: ``progress(done, total)`` after each picture.
        options: more :func:`omnidex.gen.generate` options (``api_key_env``, ``endpoint_model``, ...).
    Returns:
        Summary: out, train, heldout, generator, seconds, seconds_per_image.
    """
    if n_train < 1:
        raise OmnidexError(f"--n-train must be at least 1, got {n_train}")
    out = Path(out)
    source = from_spec(generator)
    splits = {}
    if prompts:
        cycle = [prompts[i % len(prompts)] for i in range(n_train + n_heldout)]
        splits = {"train": cycle[:n_train], "heldout": cycle[n_train:]}
    else:
        splits = {"train": scene_prompts(n_train, seed, "train"), "heldout": scene_prompts(n_heldout, seed, "heldout")}
    total, done, gen_seconds = n_train + n_heldout, 0, 0.0
    t0 = time.perf_counter()
    for split, texts in splits.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        base = seed + (HELDOUT_SEED_OFFSET if split == "heldout" else 0)
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for i, prompt in enumerate(texts):
                g = generate(prompt, seed=base + i, steps=steps, width=size, height=size, guidance=guidance,
                             **source, **options)
                gen_seconds += g.provenance.get("seconds") or 0.0
                rel = f"{split}/{i:05d}.png"
                save(g, out / rel, sidecar=False)
                keep = {k: g.provenance.get(k) for k in ("generator", "model", "seed", "steps", "guidance")}
                fh.write(json.dumps({"path": rel, "caption": prompt, "generated": keep}) + "\n")
                done += 1
                if progress is not None:
                    progress(done, total)
    meta = {"generator": generator, "seed": seed, "size": size, "steps": steps, "guidance": guidance,
            "counts": {"train": n_train, "heldout": n_heldout},
            "prompts": "file" if prompts else "synthetic scene captions",
            "note": "pictures made by an image generator; captions are the prompts they were drawn from"}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return {"out": str(out), "train": n_train, "heldout": n_heldout, "generator": generator,
            "seconds": round(time.perf_counter() - t0, 3),
            "seconds_per_image": round(gen_seconds / max(1, total), 3)}
