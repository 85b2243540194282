"""Encoders behind one registry: name -> bundle (model + preprocessing + tokenizer)."""
from .base import Encoder, EncoderBase, encode, l2_normalise
from .registry import available, build, describe, register

__all__ = ["Encoder", "EncoderBase", "available", "build", "describe", "encode", "l2_normalise", "register"]
