"""Model lookup shared by the hub-backed encoders (CLIP, CLAP, X-CLIP): a local directory, else the
hub cache offline, else the hub itself after a 3-second reachability probe, so an offline machine
fails in seconds (huggingface_hub otherwise retries for ~25 s) with an EncoderUnavailable that says
which model, why, and how to get it.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from .._require import require
from ..errors import EncoderUnavailable
from .base import dir_fingerprint

HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors"]
# short hub timeouts for the download step (read by huggingface_hub when it is first imported)
os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")


def looks_like_path(model: str) -> bool:
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or os.sep != "/" and os.sep in model


def hub_cached(repo: str) -> Path | None:
    """The hub-cache snapshot of ``repo``, or None when it is not cached."""
    hub = require("huggingface_hub", "clip")
    try:
        path = Path(hub.snapshot_download(repo, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss means "not cached"
        return None
    return path if (path / "config.json").exists() else None


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub (or the configured proxy) cannot be reached, or None when a TCP connect works."""
    hub = require("huggingface_hub", "clip")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") or hub.constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or hub.constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc})"
    return None


def hub_download(repo: str) -> Path:
    """Download ``repo`` (configs, tokenizer, safetensors or else PyTorch weights) and return its snapshot."""
    hub = require("huggingface_hub", "clip")
    path = Path(hub.snapshot_download(repo, allow_patterns=HUB_PATTERNS))
    if not any(path.glob("*.safetensors")):
        path = Path(hub.snapshot_download(repo, allow_patterns=HUB_PATTERNS + ["pytorch_model.bin"]))
    return path


def resolve(model: str, prefix: str, label: str, default: str, fix_hint: str,
            fingerprint: Callable = dir_fingerprint) -> tuple[Path, str]:
    """Find the weights of ``model`` and the identity they carry.

    Args:
        model: a local directory, a hub id cached locally, or a hub id to download.
        prefix: identity prefix ("clip", "clap").
        label: the model's kind in messages ("CLIP", "CLAP").
        default: a hub id to suggest.
        fix_hint: how to get the model, for messages.
        fingerprint: short hash of a local directory's weights.
    Returns:
        (directory, identity) with identity ``<prefix>:<abs dir>@<sha12 of weights>`` for a directory or
        ``<prefix>:<hub id>@<commit12>`` for the hub.
    Raises:
        EncoderUnavailable: not found and the hub cannot be reached (returns within seconds).
    """
    local = Path(model).expanduser()
    if local.is_dir():
        return local.resolve(), f"{prefix}:{local.resolve()}@{fingerprint(local)}"
    if looks_like_path(model):
        raise EncoderUnavailable(f"{label} model directory '{model}' does not exist: pass a directory written by "
                                 f"save_pretrained (config, weights, processor), or a hub id such as '{default}'")
    cached = hub_cached(model)
    if cached is None:
        why = hub_unreachable()
        if why:
            raise EncoderUnavailable(f"{label} model '{model}' is not in the local hub cache and the hub is "
                                     f"unreachable: {why}. To get it: {fix_hint}")
        try:
            cached = hub_download(model)
        except Exception as exc:  # noqa: BLE001 - name the model and the fix
            raise EncoderUnavailable(f"{label} model '{model}' could not be downloaded ({exc}). "
                                     f"To get it: {fix_hint}") from exc
    commit = cached.name if re.fullmatch(r"[0-9a-f]{40}", cached.name) else dir_fingerprint(cached)
    return cached, f"{prefix}:{model}@{commit[:12]}"
