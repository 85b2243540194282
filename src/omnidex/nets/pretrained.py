"""One versioned save/load for the in-house models: a directory with ``config.json`` (format, version,
architecture config, facts) and ``model.safetensors`` (the trainable state), like transformers'
``save_pretrained`` / ``from_pretrained``.
"""
from __future__ import annotations

import json
from pathlib import Path

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_weights(module, path: Path, fmt: str, half: bool) -> None:
    """Write ``module``'s state as safetensors: fp16 when ``half``, except ``logit_scale`` (kept exact)."""
    from safetensors.torch import save_file

    state = {}
    for k, v in module.state_dict().items():
        v = v.detach().cpu().contiguous()
        state[k] = v.half() if half and v.is_floating_point() and k != "logit_scale" else v
    save_file(state, str(path), metadata={"format": fmt})


def save_pretrained(module, directory: str | Path, fmt: str, version: int, meta: dict, half: bool = False) -> Path:
    """Write ``module`` to ``directory``: its weights and ``config.json`` = format, version, ``meta``, dtype.

    Args:
        module: a torch module (its whole state_dict is saved).
        directory: created if missing.
        fmt: format name checked on load, e.g. ``"omnidex-lit"``.
        version: format version (a loader refuses newer versions than it knows).
        meta: JSON-ready facts; ``meta["config"]`` is what the loader rebuilds the module from.
        half: store floating weights as fp16 (``logit_scale`` stays exact).
    Returns:
        The directory.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(module, out / WEIGHTS_FILE, fmt, half)
    config = {"format": fmt, "version": version, **meta, "dtype": "float16" if half else "float32"}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=1))
    return out


def read_pretrained(directory: str | Path, fmt: str, version: int, what: str,
                    extra_files: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """Read a directory written by :func:`save_pretrained`.

    Args:
        directory: the model directory.
        fmt: the format it must declare.
        version: the newest format version the caller can read.
        what: the model's name in error messages ("LiT", "audio-lit", ...).
        extra_files: further files that must be present (e.g. a codebook).
    Returns:
        (config dict, state dict with floating tensors as float32).
    Raises:
        FileNotFoundError: a needed file is missing. ValueError: another format, or a newer version.
    """
    from safetensors.torch import load_file

    root = Path(directory)
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE, *extra_files) if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: not a {what} model directory (missing {', '.join(missing)})")
    meta = json.loads((root / CONFIG_FILE).read_text())
    if meta.get("format") != fmt:
        raise ValueError(f"{root}: {CONFIG_FILE} is not an {fmt} config (format={meta.get('format')!r})")
    if int(meta.get("version", 1)) > version:
        raise ValueError(f"{root}: {fmt} version {meta.get('version')} is newer than this omnidex reads ({version})")
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(root / WEIGHTS_FILE)).items()}
    return meta, state
