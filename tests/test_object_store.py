"""An index that lives on object storage (S3 API, served locally by moto), written and searched like a
local one; the writer lock and tuned index parameters stay in a local folder."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("moto")
pytest.importorskip("boto3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.mark.slow
def test_index_on_s3_is_written_searched_and_incremental(s3, tmp_path, monkeypatch):
    import boto3

    from omnidex import Index, IndexConfig
    from omnidex.testing.mediagen import text_image

    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                       "AWS_ENDPOINT": s3, "AWS_ALLOW_HTTP": "true", "OMNIDEX_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    client.create_bucket(Bucket="archive")
    media = tmp_path / "media"
    media.mkdir()
    text_image("Quarterly invoice 4417", media / "invoice.png")
    (media / "notes.md").write_text("# Harbour survey\n\nThe lighthouse keeper logged three ships at dawn.")
    (media / "empty.jpg").write_bytes(b"")
    cfg = IndexConfig(clip_model="lit:bundled", speech=False, sound=False)

    report = Index("s3://archive/omnidex", cfg).add([media])
    status = {o.path.rsplit("/", 1)[-1]: o.status for o in report.outcomes}
    assert status == {"invoice.png": "indexed", "notes.md": "indexed", "empty.jpg": "skipped"}
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="archive", Prefix="omnidex/").get("Contents", [])]
    assert any(k.startswith("omnidex/text.lance/") for k in keys) and any(".lance/data/" in k for k in keys)
    assert not (media / "omnidex").exists()

    idx = Index("s3://archive/omnidex")  # a fresh handle: everything is read back from the bucket
    hits = idx.search("lighthouse keeper ships")
    assert hits and hits[0].path.endswith("notes.md")
    assert any(h.path.endswith("invoice.png") for h in idx.search("invoice 4417"))
    stats = idx.stats()
    assert stats["spaces"]["text"]["search"] == {"index": "exact (in memory)"}

    again = Index("s3://archive/omnidex", cfg).add([media])
    assert {o.status for o in again.outcomes} == {"unchanged"}
    assert list((tmp_path / "cache" / "remote").iterdir())  # the local lock/params folder of this URI
