"""Pictures from an OpenAI-compatible images endpoint: ``POST {base}/v1/images/generations``.

Works with OpenAI itself and with local servers that speak the same API (LocalAI, vLLM-omni,
stable-diffusion.cpp's server, ...). The request asks for ``response_format: b64_json``; a reply that
only gives a ``url`` is fetched. ``seed``/``steps``/``guidance`` are sent only when given (OpenAI
refuses unknown fields; local servers read them). The API key comes from an environment variable
(``--api-key-env``, default ``OPENAI_API_KEY``), never from the command line.
"""
from __future__ import annotations

import base64
import io
import json
import os
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

from ..errors import OmnidexError
from .provenance import Generation

DEFAULT_TIMEOUT = 120.0
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def images_url(base: str) -> str:
    """The generations URL of a base: ``http://h:8080`` -> ``http://h:8080/v1/images/generations``
    (a base ending in ``/v1`` or already in ``/images/generations`` is completed or kept)."""
    base = base.rstrip("/")
    if base.endswith("/images/generations"):
        return base
    if base.endswith("/v1"):
        return base + "/images/generations"
    return base + "/v1/images/generations"


def generate_remote(endpoint: str, prompt: str, *, seed: int | None = None, steps: int | None = None,
                    width: int | None = None, height: int | None = None, guidance: float | None = None,
                    negative_prompt: str | None = None, endpoint_model: str | None = None,
                    api_key_env: str | None = None, timeout: float | None = None, **_ignored) -> Generation:
    """One picture from the endpoint at ``endpoint``.

    Raises:
        OmnidexError: the key's variable is named but unset, the server cannot be reached or times
            out, answers with an HTTP error (its message is quoted), or the reply holds no picture.
    """
    from PIL import Image

    if not prompt or not prompt.strip():
        raise OmnidexError("the prompt is empty")
    url = images_url(endpoint)
    width, height = int(width or 1024), int(height or 1024)
    body: dict = {"prompt": prompt, "n": 1, "size": f"{width}x{height}", "response_format": "b64_json"}
    if endpoint_model:
        body["model"] = endpoint_model
    for key, value in (("seed", seed), ("steps", steps), ("guidance_scale", guidance),
                       ("negative_prompt", negative_prompt)):
        if value is not None:
            body[key] = value
    headers = {"Content-Type": "application/json", "User-Agent": "omnidex"}
    key_env = api_key_env or DEFAULT_KEY_ENV
    key = os.environ.get(key_env)
    if api_key_env and not key:
        raise OmnidexError(f"--api-key-env {api_key_env}: that environment variable is not set")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    t0 = time.perf_counter()
    reply = _post(url, body, headers, timeout)
    try:
        item = reply["data"][0]
    except (KeyError, IndexError, TypeError):
        raise OmnidexError(f"{url}: the reply holds no picture (no data[0]): {str(reply)[:200]}") from None
    if item.get("b64_json"):
        try:
            raw = base64.b64decode(item["b64_json"], validate=False)
        except ValueError as exc:
            raise OmnidexError(f"{url}: data[0].b64_json is not base64: {exc}") from exc
    elif item.get("url"):
        raw = _get(item["url"], timeout)
    else:
        raise OmnidexError(f"{url}: data[0] has neither b64_json nor url")
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises several kinds for undecodable bytes
        raise OmnidexError(f"{url}: the returned picture cannot be decoded: {exc}") from exc
    seconds = time.perf_counter() - t0
    prov = {"generator": "endpoint", "model": endpoint_model or reply.get("model") or None, "endpoint": url,
            "prompt": prompt, "revised_prompt": item.get("revised_prompt"), "negative_prompt": negative_prompt,
            "seed": seed, "steps": steps, "width": image.width, "height": image.height,
            "requested_size": body["size"], "guidance": guidance, "seconds": round(seconds, 3),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return Generation(image.convert("RGB"), prov)


def _post(url: str, body: dict, headers: dict, timeout: float) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", {}).get("message") or detail
        except (ValueError, AttributeError):
            pass
        raise OmnidexError(f"{url}: HTTP {exc.code}: {str(detail).strip()[:300]}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OmnidexError(f"{url}: cannot reach the image endpoint ({reason}; timeout {timeout:g} s)") from exc
    try:
        return json.loads(data)
    except ValueError as exc:
        raise OmnidexError(f"{url}: the reply is not JSON: {data[:200]!r}") from exc


def _get(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "omnidex"}),
                                    timeout=timeout) as resp:
            return resp.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise OmnidexError(f"{url}: cannot fetch the generated picture ({getattr(exc, 'reason', exc)})") from exc
