"""``omnidex generate "PROMPT" -o OUT.png``: a picture from a diffusers pipeline or an image endpoint.

Also the generator flags ``omnidex search --imagine`` and ``omnidex synth --generator`` share.
"""
from __future__ import annotations

import json
import os

from .options import json_flag

ENV_MODEL = "OMNIDEX_GEN_MODEL"  # default diffusers folder / hub id
ENV_ENDPOINT = "OMNIDEX_GEN_ENDPOINT"  # default OpenAI-compatible images endpoint


def add_parser(sub) -> None:
    g = sub.add_parser("generate", help="generate a picture from a prompt (diffusers or an OpenAI-compatible endpoint)")
    g.add_argument("prompt", help="what to draw")
    g.add_argument("-o", "--out", required=True, help="output picture (.png keeps the provenance in text chunks)")
    g.add_argument("--model", default=None,
                   help=f"diffusers pipeline folder or hub id, e.g. stabilityai/sdxl-turbo (default ${ENV_MODEL})")
    g.add_argument("--endpoint", default=None,
                   help=f"OpenAI-compatible base URL, e.g. http://127.0.0.1:8080 (POST /v1/images/generations; "
                        f"default ${ENV_ENDPOINT})")
    g.add_argument("--endpoint-model", dest="endpoint_model", default=None, help="model name sent to the endpoint")
    g.add_argument("--api-key-env", dest="api_key_env", default=None,
                   help="environment variable holding the endpoint's API key (default OPENAI_API_KEY when set)")
    add_sampling_flags(g)
    g.add_argument("--negative", dest="negative_prompt", default=None, help="negative prompt (diffusers)")
    g.add_argument("--device", default=None, help="diffusers device: cpu (default), cuda, mps")
    g.add_argument("--timeout", type=float, default=None, help="endpoint timeout in seconds (default 120)")
    g.add_argument("--no-sidecar", dest="sidecar", action="store_false",
                   help="do not write OUT.json beside the picture (a PNG still carries the provenance)")
    json_flag(g, "print the provenance as JSON")
    g.set_defaults(func=run)


def add_sampling_flags(p, prefix: str = "") -> None:
    """``--seed``, ``--steps``, ``--size``, ``--guidance`` (with a prefix: ``--imagine-seed`` ...)."""
    dash, under = (f"{prefix}-", f"{prefix}_") if prefix else ("", "")
    p.add_argument(f"--{dash}seed", dest=f"{under}seed", type=int, default=None,
                   help="seed of the initial noise (default: random for generate, 0 otherwise; recorded)")
    p.add_argument(f"--{dash}steps", dest=f"{under}steps", type=int, default=None,
                   help="denoising steps (default 30; endpoints: not sent unless given)")
    p.add_argument(f"--{dash}size", dest=f"{under}size", default=None, metavar="N|WxH",
                   help="picture size (default: the model's own, 1024 for endpoints)")
    p.add_argument(f"--{dash}guidance", dest=f"{under}guidance", type=float, default=None,
                   help="classifier-free guidance scale (default: the pipeline's)")


def parse_size(text: str | None) -> tuple[int | None, int | None]:
    """``"512"`` -> (512, 512); ``"768x512"`` -> (768, 512); None -> (None, None)."""
    from ..errors import OmnidexError

    if not text:
        return None, None
    w, _, h = str(text).lower().partition("x")
    try:
        width, height = int(w), int(h or w)
    except ValueError:
        raise OmnidexError(f"--size {text!r}: write N or WIDTHxHEIGHT, e.g. 512 or 768x512") from None
    if width < 8 or height < 8 or width > 8192 or height > 8192:
        raise OmnidexError(f"--size {text!r}: each side must be between 8 and 8192 pixels")
    return width, height


def source_of(model: str | None, endpoint: str | None) -> dict:
    """``{"model": ...}`` or ``{"endpoint": ...}`` from the flags, else from the environment."""
    from ..errors import OmnidexError

    if model and endpoint:
        raise OmnidexError("give --model or --endpoint, not both")
    model = model or (None if endpoint else os.environ.get(ENV_MODEL))
    endpoint = endpoint or (None if model else os.environ.get(ENV_ENDPOINT))
    if not model and not endpoint:
        raise OmnidexError(f"no image generator: pass --model (a diffusers folder or hub id) or --endpoint URL, "
                           f"or set {ENV_MODEL} / {ENV_ENDPOINT}")
    return {"model": model} if model else {"endpoint": endpoint}


def run(args) -> int:
    from ..gen import generate, save
    from ..gen.provenance import sidecar_of, summary

    width, height = parse_size(args.size)
    source = source_of(args.model, args.endpoint)
    g = generate(args.prompt, **source, seed=args.seed, steps=args.steps, width=width, height=height,
                 guidance=args.guidance, negative_prompt=args.negative_prompt, device=args.device,
                 endpoint_model=args.endpoint_model, api_key_env=args.api_key_env, timeout=args.timeout)
    out = save(g, args.out, sidecar=args.sidecar)
    if args.json:
        print(json.dumps({"out": str(out), **g.provenance}, indent=2))
    else:
        side = sidecar_of(out)
        print(f"wrote {out} ({summary(g.provenance)})" + (f"; provenance also in {side}" if side.exists() else ""))
    return 0


# ----------------------------------------------------------------------------- search --imagine

def add_imagine_flags(p) -> None:
    """``--imagine TEXT`` and how the picture is made (for ``omnidex search``)."""
    p.add_argument("--imagine", default=None, metavar="TEXT",
                   help="generate a picture of TEXT and search with the text and the picture together "
                        f"(generator: --imagine-with, ${ENV_MODEL} or ${ENV_ENDPOINT})")
    p.add_argument("--imagine-with", dest="imagine_with", default=None, metavar="MODEL|URL",
                   help="diffusers folder / hub id, or an OpenAI-compatible endpoint URL")
    p.add_argument("--imagine-out", dest="imagine_out", default=None,
                   help="where to keep the imagined picture (default: the omnidex cache)")
    add_sampling_flags(p, "imagine")


def imagine(args) -> tuple[str, dict]:
    """Generate the ``--imagine`` picture (seed 0 unless given; reused from the cache when the same
    text, generator and settings were imagined before). Returns (picture path, provenance)."""
    import hashlib

    from .._env import cache_dir
    from ..gen import from_spec, generate, read_provenance, save

    spec = args.imagine_with
    source = from_spec(spec) if spec else source_of(None, None)
    width, height = parse_size(args.imagine_size)
    opts = {"seed": 0 if args.imagine_seed is None else args.imagine_seed, "steps": args.imagine_steps,
            "width": width, "height": height, "guidance": args.imagine_guidance}
    if args.imagine_out:
        out = args.imagine_out
    else:
        key = hashlib.sha256(json.dumps([args.imagine, source, opts], sort_keys=True).encode()).hexdigest()[:20]
        out = str(cache_dir() / "imagined" / f"{key}.png")
        prov = read_provenance(out) if os.path.isfile(out) else None
        if prov is not None:
            return out, {**prov, "cached": True}
    g = generate(args.imagine, **source, **opts)
    return str(save(g, out, sidecar=False)), g.provenance


# ----------------------------------------------------------------------------- synth --generator

def add_synth_flags(p) -> None:
    """``omnidex synth --generator MODEL|URL`` and its options (``--seed``, ``--size``, ``--n-train`` and
    ``--n-heldout`` are synth's own)."""
    p.add_argument("--generator", default=None, metavar="MODEL|URL",
                   help="draw the pictures with an image generator (diffusers folder / hub id, or an "
                        "OpenAI-compatible endpoint URL) instead of the shape renderer; captions are the prompts")
    p.add_argument("--prompts", default=None, metavar="FILE",
                   help="--generator: prompts (one per line, or JSONL/CSV with a caption column; default: "
                        "synthetic scene captions)")
    p.add_argument("--steps", type=int, default=None, help="--generator: denoising steps (default 30)")
    p.add_argument("--guidance", type=float, default=None, help="--generator: guidance scale")
    p.add_argument("--api-key-env", dest="api_key_env", default=None, help="--generator URL: API key variable")


def run_synth(args) -> int:
    """``omnidex synth OUT --generator ...``: captioned pairs from the generator (a JSON summary on stdout
    with --json, else one line)."""
    from ..errors import OmnidexError
    from ..gen.synth import read_prompts, write_pairs

    for flag in ("skew", "videos"):
        if getattr(args, flag, None):
            raise OmnidexError(f"--{flag} is for the shape renderer; it does not combine with --generator")
    prompts = read_prompts(args.prompts) if args.prompts else None
    result = write_pairs(args.out, args.generator, n_train=args.n_train, n_heldout=args.n_heldout, seed=args.seed,
                         size=args.size, steps=args.steps, guidance=args.guidance, prompts=prompts,
                         api_key_env=args.api_key_env)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"wrote {result['train']} train + {result['heldout']} held-out generated pairs to {result['out']} "
              f"({result['seconds_per_image']:.2f} s per picture); train with: omnidex train {result['out']}/train.jsonl")
    return 0
