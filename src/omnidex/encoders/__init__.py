"""Encoders behind one registry: name -> bundle (model + preprocessing + tokenizer)."""
from .base import Encoder, l2_normalise
from .registry import available, build, register

__all__ = ["Encoder", "available", "build", "l2_normalise", "register"]
