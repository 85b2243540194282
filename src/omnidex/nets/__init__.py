"""The in-house models, shared by inference and training: the locked text half, one versioned save/load
(``config.json`` + ``model.safetensors``, like transformers' ``save_pretrained``) and the LiT image model.

Inference (``omnidex.encoders``, ``omnidex.audio``, ``omnidex.series``) loads from here; ``omnidex.train``
builds on it. Nothing here imports ``omnidex.train``. (The bundled weights live in the data folder
``omnidex/models/``; this package holds code only.)
"""
