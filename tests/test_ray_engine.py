"""The Ray Data engine and the overlapped local engine write the same rows as the sequential one.

One small generated corpus (images, a narrated video, a document, a zero-byte file, random bytes)
is indexed with the bundled offline models by the local engine, sequentially and with decode
overlapped, and by ``engine="ray"`` on a 2-CPU local Ray (started once for this module). The
Ray run is interrupted after a few files and resumed, as a user's Ctrl-C would.
"""
from __future__ import annotations

import dataclasses
import json
import signal

import numpy as np
import pytest

from omnidex import Index, IndexConfig

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")]
ray = pytest.importorskip("ray")

CFG = IndexConfig(clip_model="lit:bundled", frame_fps=1.0, batch_files=2)
ATOL = 1e-5  # vectors: float tolerance between processes (torch runs 1 thread in a Ray actor, 2 here)
# Whisper's int8 kernels place word times a few hundredths of a second differently with the thread
# count (OMP_NUM_THREADS=1 in a 1-CPU Ray task vs all cores here): times are compared within this.
TIME_TOL = 0.05


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module: ``ray.init(num_cpus=2, include_dashboard=False)`` via the engine."""
    from omnidex.ingest.ray_engine import connect

    before = signal.getsignal(signal.SIGTERM)
    connect(num_cpus=2)
    yield {"sigterm_kept": signal.getsignal(signal.SIGTERM) is before}
    ray.shutdown()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    from omnidex.testing.mediagen import Narration, Scene, make_video, text_image

    root = tmp_path_factory.mktemp("raycorpus")
    text_image("BEACH PARTY 2026", root / "poster.png", bg=(250, 200, 60), fg=(20, 20, 120))
    text_image("Mountain cabin", root / "cabin.jpg", bg=(40, 90, 40), fg=(255, 255, 255))
    text_image("red square", root / "red.png", bg=(200, 30, 30), fg=(255, 255, 255))
    make_video(root / "talk.mp4", [Scene(3.0, (20, 40, 160), "WELCOME"), Scene(3.0, (20, 120, 40), "HARBOUR")],
               [Narration(0.5, "The weather today is cold and rainy.")])
    (root / "notes.md").write_text("# Groceries\n\nBuy apples, oat milk and coffee beans.\n\n"
                                   "# Car\n\nThe car needs new winter tyres before December.\n")
    (root / "empty.jpg").write_bytes(b"")
    (root / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    return root


def _index(db, media, **cfg):
    return Index(db, dataclasses.replace(CFG, **cfg)).add([media])


def _snapshot(db) -> tuple[dict, dict]:
    """(files by path without timing/batch columns, space -> rows by id) of a freshly opened index."""
    idx = Index(db, CFG)
    files = {r["path"]: {k: v for k, v in r.items() if k not in ("batch", "indexed_at")}
             for r in idx.store.table("files").to_arrow().to_pylist()}
    spaces = {s: {r["id"]: r for r in idx.store.table(s).to_arrow().to_pylist()} for s in idx.store.spaces()}
    return files, spaces


def _assert_same(a, b, exact: bool = True) -> None:
    """Same files rows and segment rows; vectors within ATOL, times within TIME_TOL unless ``exact``."""
    files_a, spaces_a = _snapshot(a)
    files_b, spaces_b = _snapshot(b)
    assert files_a == files_b
    assert sorted(spaces_a) == sorted(spaces_b)
    for space, rows_a in spaces_a.items():
        rows_b = spaces_b[space]
        assert sorted(rows_a) == sorted(rows_b), space
        for rid, ra in rows_a.items():
            rb = rows_b[rid]
            assert np.allclose(ra["vector"], rb["vector"], atol=ATOL), (space, rid)
            if exact:
                assert _plain(ra) == _plain(rb), (space, rid)
                continue
            assert _plain(ra, TIMES) == _plain(rb, TIMES), (space, rid)
            assert np.allclose(_times(ra), _times(rb), atol=TIME_TOL), (space, rid, ra["words"], rb["words"])


TIMES = ("start", "end", "at", "words")


def _plain(row: dict, also: tuple = ()) -> dict:
    return {k: v for k, v in row.items() if k not in ("vector", "batch") + also}


def _times(row: dict) -> list[float]:
    words = json.loads(row["words"]) if row["words"] else []
    return [row["start"], row["end"], row["at"]] + [t for w in words for t in w[:2]]


@pytest.fixture(scope="module")
def local(media, tmp_path_factory):
    db = tmp_path_factory.mktemp("local") / "db"
    return db, _index(db, media)


def test_local_run_covers_every_kind(local, media):
    _, report = local
    by = {o.path.rsplit("/", 1)[-1]: o for o in report.outcomes}
    for name in ("poster.png", "cabin.jpg", "red.png", "talk.mp4", "notes.md"):
        assert by[name].status == "indexed" and by[name].segments > 0, by[name]
    assert by["empty.jpg"].status == "skipped" and "zero-byte" in by["empty.jpg"].reason
    assert by["noise.mp4"].status in ("skipped", "failed") and by["noise.mp4"].reason


def test_overlapped_and_sequential_local_engines_write_the_same_rows(local, media, tmp_path):
    db, report = local
    seq = _index(tmp_path / "seq", media, prefetch=0)
    assert [(o.path, o.status, o.reason, o.segments) for o in seq.outcomes] == \
        [(o.path, o.status, o.reason, o.segments) for o in report.outcomes]
    _assert_same(db, tmp_path / "seq")


def test_ray_engine_matches_local_and_resumes_after_an_interrupt(ray_session, local, media, tmp_path):
    assert ray_session["sigterm_kept"]  # ray.init's SIGTERM exit would skip the final commit
    local_db, report = local
    db = tmp_path / "ray"

    pressed = []

    def stop_after_three(done, total, path):  # Ctrl-C once three files are done
        if done >= 3 and not pressed:
            pressed.append(done)
            raise KeyboardInterrupt

    first = Index(db, dataclasses.replace(CFG, engine="ray")).add([media], progress=stop_after_three)
    assert first.interrupted and 1 <= len(first.outcomes) < len(report.outcomes)
    second = _index(db, media, engine="ray")
    assert not second.interrupted
    assert second.count("unchanged") == len(first.outcomes)
    assert second.count("unchanged") + second.count("indexed") + second.count("skipped") \
        + second.count("failed") == len(report.outcomes)
    assert [(o.path, o.status, o.reason) for o in second.outcomes if o.status != "unchanged"] == \
        [(o.path, o.status, o.reason) for o in report.outcomes if o.path not in {f.path for f in first.outcomes}]
    _assert_same(local_db, db, exact=False)  # the same rows (no duplicates); vectors, times within tolerance

    again = _index(db, media, engine="ray")  # incremental: nothing to do, Ray is not even asked
    assert again.count("unchanged") == len(report.outcomes)


def test_missing_engine_is_an_actionable_error(tmp_path):
    from omnidex.errors import OmnidexError

    with pytest.raises(OmnidexError, match="local, ray"):
        Index(tmp_path / "db", IndexConfig(clip_model=None, engine="spark")).add([tmp_path])


def test_missing_ray_extra_names_the_pip_command(tmp_path, monkeypatch):
    import sys

    from omnidex.errors import MissingExtra

    (tmp_path / "a.md").write_text("hello\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(MissingExtra, match=r"omnidex\[ray\]"):
        Index(tmp_path / "db", IndexConfig(clip_model=None, engine="ray")).add([tmp_path / "a.md"])


def test_a_file_lost_with_its_worker_is_reported_and_retried_next_run(tmp_path):
    """The driver's side of a dead Ray worker: reported as failed, not recorded, indexed next time."""
    from omnidex.ingest.engines import FileResult, LocalEngine
    from omnidex.spaces import Models
    from omnidex.ingest.pipeline import Ingestor
    from omnidex.store import Store

    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text(f"notes in {name}\n")
    cfg = IndexConfig(clip_model=None, speech=False)
    models = Models(cfg)

    class LosesB(LocalEngine):
        def run(self, items):
            for res in super().run(items):
                yield FileResult(res.item, "failed", "lost", retry=True) if res.item.path.endswith("b.md") else res

    store = Store(tmp_path / "db")
    report = Ingestor(store, cfg, models, engine=LosesB(cfg, models)).run([tmp_path / "a.md", tmp_path / "b.md"])
    assert [(o.path.rsplit("/", 1)[-1], o.status) for o in report.outcomes] == [("a.md", "indexed"), ("b.md", "failed")]
    assert list(store.file_states()) == [str(tmp_path / "a.md")]
    again = Ingestor(store, cfg, models).run([tmp_path / "a.md", tmp_path / "b.md"])
    assert [o.status for o in again.outcomes] == ["unchanged", "indexed"]


def test_encoders_go_to_a_gpu_only_when_one_is_there_or_asked_for():
    import torch

    from omnidex.config import IndexConfig
    from omnidex.spaces import Models

    assert Models(IndexConfig(device="cpu")).device_kwargs() == {}
    assert Models(IndexConfig(device="cuda")).device_kwargs() == {"device": "cuda"}
    auto = Models(IndexConfig()).device_kwargs()
    assert auto == ({"device": "cuda"} if torch.cuda.is_available() else {})
