"""Image generation with the libraries users already run: diffusers pipelines and OpenAI-compatible
image endpoints, with the provenance (prompt, model, seed, steps, size, guidance) kept with every picture.

- :func:`generate` makes one picture: ``model`` is any ``DiffusionPipeline`` folder or hub id (Stable
  Diffusion, SDXL, ...; :mod:`omnidex.gen.diffusion`), or ``endpoint`` is the base URL of an
  OpenAI-compatible server (``POST /v1/images/generations``, ``b64_json``; :mod:`omnidex.gen.endpoint`).
- :func:`save` writes it as PNG with the provenance in text chunks (key ``omnidex:generation``) and
  in a sidecar ``OUT.json``; :func:`read_provenance` reads either back (ingest marks such files as
  generated, and search hits carry the mark).
- :mod:`omnidex.gen.synth` writes captioned pairs from prompts for ``omnidex train``.

This layer sits low in the stack (it needs only the core, Pillow and the generators' own libraries),
so ingest can read the provenance and the front ends can generate.
"""
from __future__ import annotations

from .provenance import Generation, read_provenance, save  # noqa: F401


def generate(prompt: str, *, model: str | None = None, endpoint: str | None = None, **options) -> "Generation":
    """One picture for ``prompt`` from a diffusers pipeline (``model``) or an image endpoint (``endpoint``).

    Args:
        prompt: what to draw.
        model: a ``DiffusionPipeline`` folder or hub id (diffusers).
        endpoint: base URL of an OpenAI-compatible images API (``http://host:port`` or ``.../v1``).
        options: ``seed``, ``steps``, ``width``, ``height``, ``guidance``, ``negative_prompt``; for
            endpoints also ``api_key_env``, ``endpoint_model``, ``timeout``; for diffusers ``device``.
    Returns:
        A :class:`Generation` (the PIL image and its provenance dict).
    Raises:
        OmnidexError: neither or both sources given, the model cannot be loaded (hub unreachable,
            not cached), the endpoint refused or failed.
    """
    from ..errors import OmnidexError

    if bool(model) == bool(endpoint):
        raise OmnidexError("give exactly one image generator: a diffusers model (folder or hub id) or an "
                           "OpenAI-compatible endpoint URL")
    if endpoint:
        from .endpoint import generate_remote

        return generate_remote(endpoint, prompt, **options)
    from .diffusion import generate_local

    return generate_local(model, prompt, **options)


def from_spec(spec: str) -> dict:
    """``{"model": spec}`` or ``{"endpoint": spec}``: an http(s) URL is an endpoint, anything else a
    diffusers folder or hub id (how ``--generator`` and ``--imagine-with`` name a generator)."""
    return {"endpoint": spec} if spec.startswith(("http://", "https://")) else {"model": spec}


__all__ = ["Generation", "generate", "from_spec", "save", "read_provenance"]
