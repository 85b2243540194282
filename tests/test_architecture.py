"""The architecture contract: one-way layers (import-linter), no import cycles, no private names
imported across modules, an encoder table open to entry points, and the in-house models' shared
save/load. See docs/architecture.md."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(import_graph)


def _run(args: list[str], env_extra: dict | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, **kw)


# ---------------------------------------------------------------- the measured graph of src/omnidex
def test_no_cycles_no_private_imports_no_layer_violations():
    r = import_graph.measure()
    assert r["cycles"] == [], r["cycles"]
    assert r["private_imports"] == [], r["private_imports"]
    assert r["layer_violations"] == [], r["layer_violations"]
    # the facades no longer reach into the searcher's internals
    reaches = {p["expr"].rsplit(".", 1)[-1] for p in r["private_reaches"]}
    assert not reaches & {"_searcher", "_config_from_store", "_encoder", "_vector", "_fts", "_text_cache"}, reaches


def test_import_linter_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    out = _run([str(lint), "--no-cache"])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout


def test_contract_lists_every_top_level_module_and_no_exceptions():
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = conf["contracts"]
    assert "ignore_imports" not in contract and "unmatched_ignore_imports_alerting" not in contract
    listed = {m for layer in import_graph.LAYERS for m in layer}
    pkg = ROOT / "src" / "omnidex"
    tops = {f"omnidex.{p.stem}" for p in pkg.glob("*.py") if p.stem != "__init__"}
    tops |= {f"omnidex.{p.name}" for p in pkg.iterdir() if (p / "__init__.py").is_file()}
    assert tops - listed == set(), f"modules outside the layer contract: {sorted(tops - listed)}"


def test_the_script_finds_cycles_private_imports_and_upward_imports(tmp_path):
    pkg = tmp_path / "src" / "omnidex"
    (pkg / "media").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "media" / "__init__.py").write_text("")
    (pkg / "media" / "a.py").write_text("from .b import _helper\nfrom ..api import Index\n")
    (pkg / "media" / "b.py").write_text("def _helper():\n    from . import a\n")
    (pkg / "api.py").write_text("class Index:\n    pass\n")
    r = import_graph.measure(tmp_path / "src")
    assert r["cycles"] == [{"size": 2, "modules": ["omnidex.media.a", "omnidex.media.b"]}]
    assert [(p["importer"], p["name"]) for p in r["private_imports"]] == [("omnidex.media.a", "_helper")]
    assert r["layer_violations"] == [{"importer": "omnidex.media.a", "imported": "omnidex.api"}]


# ---------------------------------------------------------------- the encoder table
def test_encoder_table_lists_without_loading_anything_heavy():
    code = ("import sys, json; from omnidex.encoders.registry import describe; rows = describe(); "
            "print(json.dumps([sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'av') "
            "if m in sys.modules), rows]))")
    out = _run([sys.executable, "-c", code])
    assert out.returncode == 0, out.stderr
    heavy, rows = json.loads(out.stdout)
    assert heavy == []
    by = {r["name"]: r for r in rows}
    assert by["minilm"]["modalities"] == ["text"] and by["minilm"]["dim"] == 384
    assert by["phash"]["dim"] == 195 and by["audio-lit"]["modalities"] == ["text", "audio"]
    assert by["series-lit"]["target"] == "omnidex.series.encoders:SeriesLitEncoder"


def test_third_party_encoder_through_an_entry_point(tmp_path):
    (tmp_path / "shade_enc.py").write_text(textwrap.dedent('''
        import numpy as np
        from omnidex.encoders.base import EncoderBase, l2_normalise

        class Shade(EncoderBase):
            """Mean colour of a picture: a third-party encoder."""
            name, identity, dim, batch_size = "shade", "shade:v1", 3, 8
            modalities = frozenset({"image"})

            def encode_image(self, images):
                return l2_normalise(np.stack([np.asarray(i.convert("RGB"), np.float32).mean((0, 1)) for i in images]))
    '''))
    dist = tmp_path / "shade_enc-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shade-enc\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[omnidex.encoders]\nshade = shade_enc:Shade\n")
    code = ("import json; from PIL import Image; from omnidex.encoders.registry import build, describe; "
            "e = build('shade'); v = e.encode('image', [Image.new('RGB', (8, 8), (255, 0, 0))]); "
            "print(json.dumps([v.round(3).tolist(), [r for r in describe() if r['name'] == 'shade']]))")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}
    out = _run([sys.executable, "-c", code], env)
    assert out.returncode == 0, out.stderr
    vec, rows = json.loads(out.stdout)
    assert vec == [[1.0, 0.0, 0.0]]
    assert rows[0]["origin"] == "entry point" and rows[0]["target"] == "shade_enc:Shade"
    cli = _run([sys.executable, "-m", "omnidex", "encoders", "--json"], env)
    assert cli.returncode == 0, cli.stderr
    assert "shade" in {r["name"] for r in json.loads(cli.stdout)}


def test_encode_dispatches_by_modality_and_refuses_others():
    from PIL import Image

    from omnidex.encoders.registry import build

    enc = build("phash")
    im = Image.new("RGB", (40, 30), (10, 200, 30))
    assert (enc.encode("image", [im]) == enc.encode_image([im])).all()
    with pytest.raises(NotImplementedError, match="does not embed text"):
        enc.encode("text", ["a"])


# ---------------------------------------------------------------- tables in place of branches
def test_kind_tables():
    from omnidex.ingest.engines import EXTRACTORS
    from omnidex.search.engine import QUERY_KINDS
    from omnidex.spaces import SPACES

    assert set(EXTRACTORS) == {"image", "video", "audio", "text", "series"}
    assert set(QUERY_KINDS) == {"video", "series"}
    assert set(SPACES) == {"visual", "video", "sound", "series", "series_text"}


# ---------------------------------------------------------------- the in-house models' one save/load
def test_bundled_lit_round_trips_through_save_pretrained(tmp_path):
    pytest.importorskip("torch")
    from PIL import Image

    from omnidex.nets.lit import load_lit
    from omnidex.nets.pretrained import CONFIG_FILE

    bundled = ROOT / "src" / "omnidex" / "models" / "lit-synth"
    model = load_lit(bundled)
    images = [Image.new("RGB", (64, 64), c) for c in ((220, 30, 30), (30, 30, 220))]
    before = model.encode_images(images)
    model.save(tmp_path / "copy")
    again = load_lit(tmp_path / "copy").encode_images(images)
    assert (before == again).all()
    meta = json.loads((tmp_path / "copy" / CONFIG_FILE).read_text())
    shipped = json.loads((bundled / CONFIG_FILE).read_text())
    assert meta["format"] == shipped["format"]
    assert {k: meta["config"][k] for k in shipped["config"]} == shipped["config"]  # newer fields may be added
    meta["version"] = 99
    (tmp_path / "copy" / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="newer"):
        load_lit(tmp_path / "copy")


@pytest.mark.slow
def test_locked_text_tower_gives_the_minilm_vectors():
    pytest.importorskip("sentence_transformers")
    import numpy as np

    from omnidex.encoders.registry import build
    from omnidex.nets.locked_text import TEXT_MODEL, TextTower

    caps = ["a red circle on the left", "two blue squares", "a dog barks twice"]
    ours = TextTower(TEXT_MODEL).encode(caps)
    assert ours.dtype == np.float32 and ours.shape == (3, 384)
    assert np.abs(ours - build("minilm").encode_text(caps)).max() < 1e-5
