"""Pictures from a diffusers ``DiffusionPipeline``: a local folder or a hub id, loaded once per process.

Hub ids stay real for users: the pipeline is downloaded to (or read from) the Hugging Face cache.
When the hub cannot be reached, loading never hangs: with ``HF_HUB_OFFLINE=1``, or when a short
probe of the hub host (``OMNIDEX_HUB_TIMEOUT`` seconds, default 3) fails, only the local cache is
tried, and a model that is not there is a clear error saying how to get it.
"""
from __future__ import annotations

import inspect
import os
import secrets
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

from ..errors import OmnidexError
from .provenance import Generation

_PIPELINES: dict[tuple[str, str], object] = {}  # (model, device) -> loaded pipeline
DEFAULT_SIZE = 512


def hub_reachable(timeout: float | None = None) -> bool:
    """Whether a TCP connection to the hub host (``HF_ENDPOINT``, default huggingface.co:443) opens in time."""
    if timeout is None:
        timeout = float(os.environ.get("OMNIDEX_HUB_TIMEOUT", "3"))
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _offline_env() -> bool:
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def load_pipeline(model: str, device: str = "cpu"):
    """The ``DiffusionPipeline`` of ``model`` (a folder with ``model_index.json``, or a hub id) on ``device``.

    Raises:
        OmnidexError: diffusers is not installed; the folder is not a pipeline; the hub id is not
            cached and the hub is offline or unreachable; the load failed (the reason is named).
    """
    key = (model, device)
    if key in _PIPELINES:
        return _PIPELINES[key]
    try:
        import torch
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as dlog
    except ImportError as exc:
        raise OmnidexError(f"image generation needs diffusers and torch: pip install 'omnidex[gen]' ({exc})") from exc
    dlog.set_verbosity_error()
    dlog.disable_progress_bar()  # "Loading pipeline components" bars; the CLI prints one line
    try:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
    except ImportError:
        pass
    local = Path(model).expanduser()
    kwargs: dict = {}
    if local.exists():
        if not (local / "model_index.json").is_file():
            raise OmnidexError(f"{model}: not a diffusers pipeline folder (no model_index.json in it)")
        source = str(local)
    else:
        source = model
        if "/" not in model or model.count("/") > 1 or model.startswith((".", "/", "~")):
            raise OmnidexError(f"{model}: no such folder, and not a hub id (owner/name)")
        if _offline_env():
            kwargs["local_files_only"] = True
            why = "HF_HUB_OFFLINE is set"
        elif not hub_reachable():
            kwargs["local_files_only"] = True
            why = "the hub did not answer within OMNIDEX_HUB_TIMEOUT seconds"
        else:
            why = ""
    try:
        pipe = DiffusionPipeline.from_pretrained(source, **kwargs)
    except Exception as exc:  # noqa: BLE001 - diffusers raises many kinds; name the model and the cause
        if kwargs.get("local_files_only"):
            raise OmnidexError(
                f"{model}: not in the Hugging Face cache and {why}; download it once on a connected machine "
                f"(huggingface-cli download {model}, or run omnidex generate there) or pass a pipeline folder"
            ) from exc
        raise OmnidexError(f"{model}: cannot load the diffusers pipeline: {type(exc).__name__}: {exc}") from exc
    if device != "cpu":
        pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    _PIPELINES[key] = pipe
    return pipe


def generate_local(model: str, prompt: str, *, seed: int | None = None, steps: int | None = None,
                   width: int | None = None, height: int | None = None, guidance: float | None = None,
                   negative_prompt: str | None = None, device: str | None = None, **_ignored) -> Generation:
    """One picture from the diffusers pipeline ``model``; unset options take the pipeline's defaults
    (size: its UNet's sample size x 8), and the values actually used are recorded.

    Args:
        model: pipeline folder or hub id.
        prompt: what to draw.
        seed: seed of the CPU generator the initial noise is drawn from (None: a random one, recorded).
        steps: denoising steps (None: 30).
        width, height: picture size in pixels (multiples of 8).
        guidance: classifier-free guidance scale (None: the pipeline's default, recorded as such).
        negative_prompt: what not to draw (pipelines that accept one).
        device: "cpu" (default), "cuda", "mps".
    """
    import torch

    if not prompt or not prompt.strip():
        raise OmnidexError("the prompt is empty")
    device = device or "cpu"
    pipe = load_pipeline(model, device)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    steps = 30 if steps is None else int(steps)
    if steps < 1:
        raise OmnidexError(f"--steps must be at least 1, got {steps}")
    native = _native_size(pipe)
    width, height = int(width or native), int(height or native)
    if width % 8 or height % 8 or width < 8 or height < 8:
        raise OmnidexError(f"size {width}x{height}: width and height must be positive multiples of 8")
    accepted = inspect.signature(pipe.__call__).parameters
    call = {"num_inference_steps": steps, "height": height, "width": width,
            "generator": torch.Generator("cpu").manual_seed(seed)}
    if guidance is not None:
        call["guidance_scale"] = float(guidance)
    elif "guidance_scale" in accepted:
        guidance = accepted["guidance_scale"].default if accepted["guidance_scale"].default is not inspect._empty else None
    if negative_prompt:
        call["negative_prompt"] = negative_prompt
    call = {k: v for k, v in call.items() if k in accepted}
    t0 = time.perf_counter()
    with torch.inference_mode():
        result = pipe(prompt, **call) if "prompt" in accepted else pipe(**call)
    seconds = time.perf_counter() - t0
    image = result.images[0]
    if not hasattr(image, "save"):  # a pipeline asked for arrays
        import numpy as np
        from PIL import Image

        image = Image.fromarray((np.clip(np.asarray(image), 0, 1) * 255).astype("uint8"))
    prov = {"generator": "diffusers", "model": model, "pipeline": type(pipe).__name__, "prompt": prompt,
            "negative_prompt": negative_prompt or None, "seed": seed, "steps": steps,
            "width": image.width, "height": image.height,
            "guidance": None if guidance is None else float(guidance), "seconds": round(seconds, 3),
            "device": device, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return Generation(image.convert("RGB"), prov)


def _native_size(pipe) -> int:
    """The pipeline's default picture side: its denoiser's sample size times the VAE's scale factor."""
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    sample = getattr(getattr(denoiser, "config", None), "sample_size", None)
    scale = getattr(pipe, "vae_scale_factor", 8) or 8
    if isinstance(sample, (list, tuple)):
        sample = sample[0]
    return int(sample * scale) if isinstance(sample, int) else DEFAULT_SIZE
