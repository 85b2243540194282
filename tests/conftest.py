"""Shared test set-up: never touch the network, keep model threads modest."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "OMNIDEX_CACHE" not in os.environ:  # ONNX exports and other caches of a test run never land in the user's cache
    import atexit
    import shutil
    import tempfile

    os.environ["OMNIDEX_CACHE"] = tempfile.mkdtemp(prefix="omnidex-test-cache-")
    # removed when the run ends (each run left ~400 MB of ONNX exports in /tmp, and /tmp filled up);
    # processes the tests start inherit the variable and do not import this file, so only this one removes it
    atexit.register(shutil.rmtree, os.environ["OMNIDEX_CACHE"], True)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def notes_index(tmp_path_factory):
    """Builds a small served library: ``build(name, notes, config)`` writes the notes and two text
    pictures (``omnidex.testing.mediagen.notes_and_signs``), indexes them with ``config`` and returns
    {"base", "media", "db"}."""
    def build(name: str, notes: dict, config) -> dict:
        from omnidex import Index
        from omnidex.testing.mediagen import notes_and_signs

        base = tmp_path_factory.mktemp(name)
        media = notes_and_signs(base / "media", notes)
        Index(base / "db", config).add([media])
        return {"base": base, "media": media, "db": base / "db"}

    return build
