"""Serving omnidex: the HTTP API (``app``), the shared library layer (``library``, ``jobs``).

Nothing heavy is imported here; ``omnidex.serve.app.create_app`` builds the FastAPI app.
"""
