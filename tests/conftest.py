"""Shared test set-up: never touch the network, keep model threads modest."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "OMNIDEX_CACHE" not in os.environ:  # ONNX exports and other caches of a test run never land in the user's cache
    import tempfile

    os.environ["OMNIDEX_CACHE"] = tempfile.mkdtemp(prefix="omnidex-test-cache-")
