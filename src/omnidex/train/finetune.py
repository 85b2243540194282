"""Fine-tune a transformers CLIP (or SigLIP) checkpoint with the contrastive trainer.

:class:`ClipFinetune` wraps ``transformers.CLIPModel`` / ``SiglipModel`` and its processor in the
:class:`~omnidex.train.contrastive.ContrastiveModel` protocol, so ``contrastive.train`` drives it
exactly like the LiT model. What trains depends on ``mode``:

* ``"full"``: every parameter.
* ``"last"``: the last ``last_blocks`` transformer layers of both towers, the final layer norms,
  the projections and ``logit_scale``.
* ``"projections"``: the two projections (CLIP ``visual_projection``/``text_projection``; SigLIP the
  towers' ``head`` modules) and ``logit_scale``.
* ``"lora"``: LoRA adapters (``peft``) on the attention q/v projections of both towers plus
  ``logit_scale``; base weights stay frozen. ``save`` merges the adapters into a copy, so the
  output is a plain CLIP directory.

The loss is the trainer's softmax InfoNCE for SigLIP too (its ``logit_bias`` is not used and stays
frozen). ``save(dir)`` writes ``save_pretrained`` of model and processor, which
``omnidex.encoders.registry.build("clip", model=dir)`` (``omnidex index --clip DIR``) loads.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._require import require
from ..nets.lit import open_image
from .contrastive import Batch

MODES = ("full", "last", "projections", "lora")
LORA_TARGETS = ["q_proj", "v_proj"]
SIGLIP_TEXT_KWARGS = {"padding": "max_length", "max_length": 64}


def _resolve(model_dir: str | Path) -> Path:
    """A local directory as is; otherwise a hub id through the CLIP encoder's offline-first resolver."""
    local = Path(model_dir).expanduser()
    if local.is_dir():
        return local.resolve()
    from ..encoders.clip import resolve_model

    return resolve_model(str(model_dir))[0]


def _pooled(out) -> torch.Tensor:
    """transformers v5 returns an output object (embedding in ``pooler_output``), v4 a tensor."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class ClipFinetune(nn.Module):
    """A CLIP/SigLIP checkpoint as a trainable :class:`ContrastiveModel`.

    Args:
        model_dir: directory written by ``save_pretrained`` (model + processor), or a cached hub id.
        mode: "full", "last", "projections" or "lora" (see the module docstring).
        last_blocks: layers per tower that train in "last" mode.
        lora_rank: LoRA rank ("lora" mode).
        lora_alpha: LoRA scaling numerator ("lora" mode).
        seed: seeds the LoRA adapter initialisation.
    Raises:
        ValueError: unknown mode, or ``last_blocks`` < 1 in "last" mode.
    """

    def __init__(self, model_dir: str | Path, mode: str = "projections", last_blocks: int = 2,
                 lora_rank: int = 8, lora_alpha: int = 16, seed: int = 0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if mode == "last" and last_blocks < 1:
            raise ValueError(f"last_blocks must be >= 1, not {last_blocks}")
        tf = require("transformers", "clip")
        from ..encoders.base import quiet_transformers

        self.source = Path(model_dir)
        path = _resolve(model_dir)
        with quiet_transformers():
            model = tf.AutoModel.from_pretrained(str(path), local_files_only=True)
            self.processor = tf.AutoProcessor.from_pretrained(str(path), local_files_only=True)
        for attr in ("get_text_features", "get_image_features", "logit_scale"):
            if not hasattr(model, attr):
                raise ValueError(f"{path}: {type(model).__name__} is not a CLIP-style image-text model (no {attr})")
        self.mode, self.last_blocks = mode, int(last_blocks)
        self.kind = getattr(model.config, "model_type", "")
        self._text_kwargs = dict(SIGLIP_TEXT_KWARGS) if "siglip" in self.kind else {"padding": True}
        self.lora_rank, self.lora_alpha = int(lora_rank), int(lora_alpha)
        model.float()
        for p in model.parameters():
            p.requires_grad_(mode == "full")
        if mode == "lora":
            peft = require("peft", "train")
            cfg = peft.LoraConfig(r=self.lora_rank, lora_alpha=self.lora_alpha, lora_dropout=0.0,
                                  target_modules=list(LORA_TARGETS), bias="none")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = peft.get_peft_model(model, cfg)
        self.model = model
        if mode == "full" and "siglip" in self.kind and hasattr(self.base, "logit_bias"):
            self.base.logit_bias.requires_grad_(False)  # unused by the softmax loss
        for p in self._selected():
            p.requires_grad_(True)

    # ---- structure
    @property
    def base(self) -> nn.Module:
        """The underlying ``CLIPModel``/``SiglipModel`` (inside the peft wrapper in "lora" mode)."""
        m = self.model
        return m.get_base_model() if hasattr(m, "get_base_model") else m

    @property
    def logit_scale(self) -> nn.Parameter:
        """The checkpoint's own log inverse temperature (trains in every mode)."""
        return self.base.logit_scale

    def _projections(self) -> list[nn.Module]:
        b = self.base
        if hasattr(b, "visual_projection"):
            return [b.visual_projection, b.text_projection]
        return [m for m in (getattr(b.vision_model, "head", None), getattr(b.text_model, "head", None)) if m is not None]

    def _final_norms(self) -> list[nn.Module]:
        b = self.base
        return [m for m in (getattr(b.vision_model, "post_layernorm", None),
                            getattr(b.text_model, "final_layer_norm", None)) if m is not None]

    def _selected(self) -> list[nn.Parameter]:
        """Parameters switched on beyond the mode's default (all for "full", adapters for "lora")."""
        picked: list[nn.Parameter] = [self.logit_scale]
        if self.mode in ("projections", "last"):
            for m in self._projections():
                picked += list(m.parameters())
        if self.mode == "last":
            b = self.base
            for tower in (b.vision_model, b.text_model):
                for layer in list(tower.encoder.layers)[-self.last_blocks:]:
                    picked += list(layer.parameters())
            for m in self._final_norms():
                picked += list(m.parameters())
        return picked

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Every parameter with ``requires_grad`` (set by the mode)."""
        return [p for p in self.parameters() if p.requires_grad]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    # ---- inputs
    def load_image(self, source: Any) -> torch.Tensor:
        """Path or PIL -> the processor's (3, H, W) float pixels (the Batcher caches and stacks these)."""
        pixels = self.processor(images=[open_image(source)], return_tensors="pt")["pixel_values"]
        return pixels[0]

    def _pixels(self, images) -> torch.Tensor:
        if isinstance(images, torch.Tensor) and images.is_floating_point():
            x = images
        elif isinstance(images, torch.Tensor):  # uint8 (n, 3, h, w): let the processor resize/normalise
            x = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        else:
            x = torch.stack([self.load_image(im) for im in images])
        return x.to(self.logit_scale.device, torch.float32)

    def _tokens(self, captions: list[str]) -> dict:
        tok = self.processor.tokenizer if hasattr(self.processor, "tokenizer") else self.processor
        enc = tok(list(captions), truncation=True, return_tensors="pt", **self._text_kwargs)
        return {k: v.to(self.logit_scale.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    # ---- embeddings
    def embed_images(self, images) -> torch.Tensor:
        """PIL list or pixel tensor -> (n, d) unit rows."""
        return F.normalize(_pooled(self.model.get_image_features(pixel_values=self._pixels(images))).float(), dim=-1)

    def embed_texts(self, captions: list[str]) -> torch.Tensor:
        """Captions -> (n, d) unit rows."""
        return F.normalize(_pooled(self.model.get_text_features(**self._tokens(captions))).float(), dim=-1)

    def embed(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(image_emb, text_emb) of a batch (no augmentation: the checkpoint's own preprocessing)."""
        return self.embed_images(batch.images), self.embed_texts(batch.captions)

    # ---- export
    def merged(self) -> nn.Module:
        """A plain ``CLIPModel``/``SiglipModel``: a merged copy in "lora" mode, else the model itself."""
        if self.mode != "lora":
            return self.model
        return copy.deepcopy(self.model).merge_and_unload()

    @torch.no_grad()
    def save(self, directory: str | Path) -> Path:
        """``save_pretrained`` of the (merged) model and the processor.

        Returns:
            The directory, loadable with ``build("clip", model=str(dir))``.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        from ..encoders.base import quiet_transformers

        model = self.merged()
        device = self.logit_scale.device
        with quiet_transformers():
            model.to("cpu").save_pretrained(out)
            self.processor.save_pretrained(out)
        model.to(device)
        return out


def trainable_names(model: ClipFinetune) -> list[str]:
    """Names of the parameters that train (for reports and tests)."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


__all__ = ["ClipFinetune", "MODES", "trainable_names"]
