"""The HTTP API against its own OpenAPI document: schemathesis with every check, on a live server
on 127.0.0.1 (bounded here; ``make fuzz-api`` runs the long version).

``OMNIDEX_CONTRACT_EXAMPLES`` sets examples per operation (default 8) and ``OMNIDEX_CONTRACT_SEED``
the seed (default 1: the same cases on every run, so a failure here is reproducible).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("schemathesis")

from omnidex import Index, IndexConfig  # noqa: E402

CONFIG = IndexConfig(clip_model=None, speech=False, ocr=False)
ST_CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A small index (documents and a picture) served by uvicorn on a free loopback port."""
    import uvicorn

    from omnidex.serve.app import create_app
    from omnidex.testing.mediagen import text_image

    base = tmp_path_factory.mktemp("contract")
    media = base / "media"
    media.mkdir()
    (media / "budget.txt").write_text("Budget meeting: move the marketing budget to next year.\n")
    text_image("HELLO", media / "hello.png")
    Index(base / "db", CONFIG).add([media])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(base / "db", roots=[media], config=CONFIG),
                                        host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "base": base}
    srv.should_exit = True
    th.join(10)


def run_schemathesis(url: str, examples: int, seed: int, report: Path) -> subprocess.CompletedProcess:
    """``st run`` with every check against ``url``'s /openapi.json; its output and exit status."""
    st = shutil.which("st", path=str(Path(os.sys.executable).parent)) or "st"
    cmd = [st, "--config-file", str(ST_CONFIG), "run", f"{url}/openapi.json", "--checks", "all",
           "-n", str(examples), "--seed", str(seed), "--request-timeout", "60", "--no-color",
           "--report", "junit", "--report-junit-path", str(report)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=report.parent)  # its cache lands there


def test_schemathesis_finds_no_contract_failure(live):
    examples = int(os.environ.get("OMNIDEX_CONTRACT_EXAMPLES", "8"))
    seed = int(os.environ.get("OMNIDEX_CONTRACT_SEED", "1"))
    out = run_schemathesis(live["url"], examples, seed, live["base"] / "junit.xml")
    tail = (out.stdout + out.stderr)[-6000:]
    assert out.returncode == 0, tail
    assert "Selected: 12/12" in out.stdout and "failures" not in out.stdout.split("SUMMARY")[-1].lower(), tail


def test_document_states_the_rules_the_handlers_enforce(live):
    import re

    import httpx

    spec = httpx.get(live["url"] + "/openapi.json").json()
    body = spec["components"]["schemas"]
    search = next(v for k, v in body.items() if k.startswith("Body_search_post"))
    assert search["anyOf"] == [{"required": ["q"]}, {"required": ["image"]}, {"required": ["audio"]}]
    assert search["properties"]["image"]["minLength"] == 1 and "anyOf" not in search["properties"]["image"]
    get = spec["paths"]["/api/search"]["get"]
    assert next(p for p in get["parameters"] if p["name"] == "q")["required"] is True
    for path, item in spec["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert {"401", "403"} <= codes, (method, path, codes)  # the guard: token, Host, Origin
            if op.get("parameters") or op.get("requestBody"):
                assert {"400", "422"} <= codes, (method, path, codes)
            for code in codes - {"200", "202", "206", "304"}:
                assert op["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
            ok = op["responses"].get("200") or op["responses"]["202"]
            assert ok.get("content"), (method, path)
            if "{file_id}" in path or "{job_id}" in path:
                assert "404" in codes, (method, path)
    for schema in body.values():
        for prop in schema.get("properties", {}).values():
            for variant in [prop, *prop.get("anyOf", [])]:
                if "pattern" in variant:
                    re.compile(variant["pattern"])
