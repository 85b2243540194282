"""Grounded answers and captions from a vision-language model (``omnidex ask``, ``omnidex caption``).

Names are imported on first use, so ``omnidex --help`` (which registers these commands) stays light.
"""
from importlib import import_module

_EXPORTS = {"ask": "answer", "Answer": "answer", "CitationError": "answer", "caption": "captions",
            "LLMConfig": "backends", "LLMError": "backends", "make_backend": "backends"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'omnidex.ask' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
