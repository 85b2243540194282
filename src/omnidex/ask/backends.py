"""Vision-language chat backends: any OpenAI-compatible endpoint, or a transformers model from a dir.

Messages are backend-neutral: ``{"role": ..., "content": [str | PIL.Image, ...]}``. The OpenAI
backend turns images into base64 JPEG ``image_url`` data parts; the transformers backend hands
the PIL images to the model's processor and chat template.
"""
from __future__ import annotations

import base64
import io
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ..errors import OmnidexError

DEFAULT_URL = "http://127.0.0.1:11434/v1"  # a local Ollama server (vLLM: http://127.0.0.1:8000/v1)


class LLMError(OmnidexError):
    """The vision-language backend could not answer (unreachable, refused, malformed reply)."""


@dataclass(frozen=True)
class LLMConfig:
    """Which vision-language model answers, and how it is called."""

    url: str = DEFAULT_URL  # OpenAI-compatible base URL (.../v1) or the full .../chat/completions endpoint
    model: str | None = None  # model name on the server, or a local transformers directory
    api_key: str | None = None  # sent as a Bearer token when set
    backend: str = "auto"  # "openai" | "transformers" | "auto" (transformers when model is a local dir)
    timeout_s: float = 120.0  # per network operation (connect, each read); never waits forever
    max_tokens: int = 512  # longest answer
    temperature: float = 0.0  # deterministic answers by default
    image_side: int = 512  # longest side of images sent to the model (pixels)
    jpeg_quality: int = 80  # JPEG quality of images sent to the model

    @classmethod
    def from_env(cls, **overrides) -> "LLMConfig":
        """Defaults, then ``OMNIDEX_LLM_URL`` / ``_MODEL`` / ``_API_KEY`` / ``_BACKEND`` / ``_TIMEOUT``,
        then the non-None ``overrides`` (CLI flags)."""
        env = {"url": os.environ.get("OMNIDEX_LLM_URL"), "model": os.environ.get("OMNIDEX_LLM_MODEL"),
               "api_key": os.environ.get("OMNIDEX_LLM_API_KEY"), "backend": os.environ.get("OMNIDEX_LLM_BACKEND"),
               "timeout_s": float(os.environ["OMNIDEX_LLM_TIMEOUT"]) if os.environ.get("OMNIDEX_LLM_TIMEOUT") else None}
        given = {k: v for k, v in overrides.items() if v is not None}
        merged = {k: v for k, v in {**env, **given}.items() if v is not None}
        return replace(cls(), **merged)


class ChatBackend(Protocol):
    """What ``ask`` and ``caption`` need from a model."""

    name: str

    def chat(self, messages: list[dict]) -> str:
        """The assistant's reply text to neutral ``messages``."""
        ...


def make_backend(cfg: LLMConfig) -> ChatBackend:
    """The backend ``cfg`` names (auto: a local directory -> transformers, else the endpoint).

    Raises:
        LLMError: no model named.
    """
    if not cfg.model:
        raise LLMError("no vision-language model named: pass --model NAME (as the server knows it, e.g. "
                       "'llava' for Ollama) or a local transformers directory, or set OMNIDEX_LLM_MODEL")
    local = Path(cfg.model).expanduser()
    kind = cfg.backend
    if kind == "auto":
        kind = "transformers" if (local / "config.json").is_file() else "openai"
    if kind == "transformers":
        return TransformersChat(cfg)
    if kind == "openai":
        return OpenAIChat(cfg)
    raise LLMError(f"unknown backend {cfg.backend!r}: choose openai, transformers or auto")


def jpeg_data_url(image, side: int = 512, quality: int = 80) -> str:
    """A PIL image as a ``data:image/jpeg;base64,...`` URL, its longest side at most ``side``."""
    im = image.convert("RGB")
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def endpoint(url: str) -> str:
    """The chat-completions URL for a base URL (``http://host:11434`` or ``.../v1``) or the full one."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


class OpenAIChat:
    """``POST /v1/chat/completions`` on an OpenAI-compatible server (Ollama, vLLM, llama.cpp, ...)."""

    name = "openai"

    def __init__(self, cfg: LLMConfig):
        self.cfg = cfg
        self.url = endpoint(cfg.url)

    def payload(self, messages: list[dict]) -> dict:
        """The JSON body: text parts as ``text``, images as base64 JPEG ``image_url`` parts."""
        out = []
        for m in messages:
            parts = [{"type": "text", "text": p} if isinstance(p, str) else
                     {"type": "image_url", "image_url": {"url": self._image_url(p)}} for p in m["content"]]
            if all(p["type"] == "text" for p in parts):  # plain string content: what every server accepts
                out.append({"role": m["role"], "content": "\n".join(p["text"] for p in parts)})
            else:
                out.append({"role": m["role"], "content": parts})
        return {"model": self.cfg.model, "messages": out, "temperature": self.cfg.temperature,
                "max_tokens": self.cfg.max_tokens, "stream": False}

    def _image_url(self, image) -> str:
        return jpeg_data_url(image, self.cfg.image_side, self.cfg.jpeg_quality)

    def chat(self, messages: list[dict]) -> str:
        """Send the conversation, return the first choice's text.

        Raises:
            LLMError: unreachable endpoint, timeout, HTTP error, or a reply without a message.
        """
        body = json.dumps(self.payload(messages)).encode()
        headers = {"Content-Type": "application/json"}
        if self.cfg.api_key:
            headers["Authorization"] = f"Bearer {self.cfg.api_key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
                reply = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise LLMError(f"{self.url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LLMError(f"cannot reach the chat endpoint {self.url} ({reason}): start a server (e.g. "
                           f"`ollama serve`, `vllm serve MODEL`) or point --llm-url / OMNIDEX_LLM_URL at one") from exc
        except json.JSONDecodeError as exc:
            raise LLMError(f"{self.url} did not answer JSON: {exc}") from exc
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"{self.url} answered without choices[0].message.content: {str(reply)[:300]}") from exc
        if isinstance(content, list):  # some servers answer with parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content or "").strip()


class TransformersChat:
    """A transformers vision-language model from a local directory (``AutoModelForImageTextToText``)."""

    name = "transformers"

    def __init__(self, cfg: LLMConfig):
        from .._require import require

        self.cfg = cfg
        transformers = require("transformers", "clip")
        require("torch", "clip")
        path = Path(cfg.model).expanduser()
        if not (path / "config.json").is_file():
            raise LLMError(f"{path}: not a transformers model directory (no config.json)")
        from ..encoders.base import quiet_transformers

        try:
            with quiet_transformers():
                self.processor = transformers.AutoProcessor.from_pretrained(str(path))
                self.model = transformers.AutoModelForImageTextToText.from_pretrained(str(path)).eval()
        except Exception as exc:  # noqa: BLE001 - name the directory and the cause
            raise LLMError(f"cannot load a vision-language model from {path}: {exc}") from exc

    def hf_messages(self, messages: list[dict]) -> tuple[list[dict], list]:
        """Neutral messages -> the chat-template form (image placeholders) and the images in order."""
        out, images = [], []
        for m in messages:
            parts = []
            for p in m["content"]:
                if isinstance(p, str):
                    parts.append({"type": "text", "text": p})
                else:
                    im = p.convert("RGB")
                    im.thumbnail((self.cfg.image_side, self.cfg.image_side))
                    parts.append({"type": "image"})
                    images.append(im)
            out.append({"role": m["role"], "content": parts})
        return out, images

    def chat(self, messages: list[dict]) -> str:
        """Generate greedily from the chat template; returns the new text only."""
        import torch

        msgs, images = self.hf_messages(messages)
        prompt = self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=[prompt], images=images or None, return_tensors="pt")
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.cfg.max_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new, skip_special_tokens=True)[0].strip()
