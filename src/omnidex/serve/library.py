"""The shared serving layer: one index, addressed by file ids, safe to read while it is written.

Used by the HTTP API and the MCP server. Files are named by **id** (first 16 hex of the sha256 of
the indexed path), never by a path from outside, and are served only when indexed and their real
path lies inside a root. Reads go to a :class:`~omnidex.serve.snapshot.PinnedStore`, a view of
the last committed state, so a search during an ingest never sees a half-written file.

Searches run concurrently, :data:`~omnidex.serve.limits.SEARCH_WORKERS` at a time; the query
encoders are shared by them (a torch encoder is called under its own lock, an ONNX Runtime text
tower directly: its sessions are thread-safe). :meth:`Library.start_loading` loads every query
model at start-up, and :meth:`Library.health` says which are still loading.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import IndexConfig, SearchConfig
from ..spaces import Models
from ..encoders.wordsplit import original_text
from ..errors import MediaError, OmnidexError
from ..store.lance import FILES, sql_str
from .limits import HeavySlots, SearchSlots, bounded_audio, bounded_image, check_labels, check_query
from .snapshot import PinnedStore, VersionWatch
from .thumbs import ThumbCache, render_thumbnail

KINDS = ("image", "video", "audio", "text")
MAX_TOP_K = 200
MAX_GLOB = 512
THUMB_SLOT_PIXELS = 4_000_000  # pictures larger than this are thumbnailed inside a heavy-work slot
QUERY_SPACES = ("text", "visual", "sound", "video", "phash")  # spaces whose encoders a query may need
FILE_TEXTS_HELD = 4096  # files whose joined text a snapshot keeps for the reranker (least recently used dropped)
# OMNIDEX_SERVE_BASELINE=1 turns off the per-request savings below (one MiniLM pass per query shared by
# the spaces, file rows answered from the snapshot): bench/serve measures both side by side with it
SERVE_LEVERS = os.environ.get("OMNIDEX_SERVE_BASELINE", "") not in ("1", "true", "yes")


def file_id(path: str | Path) -> str:
    """The public id of an indexed path: first 16 hex digits of sha256 of the path string."""
    return hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


class OutsideRoots(PermissionError):
    """A path or file outside the served roots; ``roots`` lists the folders that are allowed.

    Args:
        message: what was refused.
        roots: the allowed folders (real paths).
    """

    def __init__(self, message: str, roots=()):
        self.roots = tuple(roots)
        shown = ", ".join(self.roots[:10]) + (f" and {len(self.roots) - 10} more" if len(self.roots) > 10 else "")
        super().__init__(f"{message} (allowed roots: {shown or 'none yet: start the server with --root DIR'})")


def _fd_path(fd: int, expected: str, st: os.stat_result) -> str:
    """The real path an open descriptor refers to: ``/proc/self/fd`` where there is one, else
    ``expected`` when it still names the very same file (same device and inode)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        again = os.stat(expected, follow_symlinks=False)
        return expected if (again.st_dev, again.st_ino) == (st.st_dev, st.st_ino) else "\0not-the-same-file"


def _big_picture(path) -> bool:
    """Whether a picture's header declares more than THUMB_SLOT_PIXELS (unreadable: False)."""
    from ..media.image import image_size

    try:
        width, height = image_size(path)
    except OmnidexError:
        return False
    return width * height > THUMB_SLOT_PIXELS


def _default_roots(db: Path, files: dict) -> tuple:
    """Without ``--root``: the folders indexed with ``Index.add`` (recorded) and those holding indexed files."""
    from ..store.roots import read_roots

    held = {os.path.realpath(os.path.dirname(p)) for p in files}
    recorded = set(read_roots(db))
    # a folder inside a recorded root adds nothing; keep the list short and readable
    held = {h for h in held if not any(_inside(h, r) for r in recorded)}
    return tuple(sorted(recorded | held))


class ServedStore(PinnedStore):
    """A pinned store that answers the per-search file look-ups from memory.

    A snapshot never changes, so what a search reads of the files table (``file_info``: shots,
    language, provenance) comes from the rows read when the snapshot was taken, and the joined text of
    a file (``file_texts``, read by the reranker) is kept after its first read (at most
    :data:`FILE_TEXTS_HELD` files). Answers are the store's own, value for value.
    """

    def __init__(self, root, versions: dict):
        super().__init__(root, versions)
        self._info: dict[str, dict] | None = None
        self._texts: "OrderedDict[tuple, str | None]" = OrderedDict()
        self._texts_lock = threading.Lock()

    def hold_files(self, rows: list[dict]) -> None:
        """Keep ``file_info``'s answer for every files row (each has path, info and duration)."""
        self._info = {r["path"]: {**(json.loads(r["info"]) if r.get("info") else {}), "duration": r["duration"]}
                      for r in rows}

    def file_info(self, paths: list[str]) -> dict[str, dict]:
        if self._info is None:
            return super().file_info(paths)
        return {p: dict(self._info[p]) for p in paths if p in self._info}

    def file_texts(self, paths: list[str], max_chars: int = 4000) -> dict[str, str]:
        with self._texts_lock:
            missing = [p for p in paths if (p, max_chars) not in self._texts]
        read = super().file_texts(missing, max_chars) if missing else {}
        out = {}
        with self._texts_lock:
            for p in missing:
                self._texts[(p, max_chars)] = read.get(p)  # None: the file has no text rows
            for p in paths:
                key = (p, max_chars)
                if key in self._texts:
                    self._texts.move_to_end(key)
                    text = self._texts[key]
                else:  # dropped by a concurrent reader's insertions since: this call's own read
                    text = read.get(p)
                if text is not None:
                    out[p] = text
            while len(self._texts) > FILE_TEXTS_HELD:
                self._texts.popitem(last=False)
        return out


@dataclass(frozen=True)
class Snapshot:
    """One committed state: a pinned store, its searcher and the files it knows."""

    versions: dict
    store: PinnedStore
    searcher: object  # omnidex.search.engine.Searcher over ``store``
    files: dict  # path -> files row (status "indexed" only)
    ids: dict  # file id -> path
    roots: tuple  # real paths of the folders media may be served from
    taken: float  # time.time() when taken


class Library:
    """One omnidex index served to many readers and one writer.

    Args:
        db: database directory.
        roots: folders media may be served from and indexed from; None = the folders holding
            indexed files (files are then served only from where they were indexed).
        config: ingest configuration for index jobs; None = one matching the encoders the store
            was built with (default ones for a new store).
        refresh_s: how often a read looks for commits made by another process (seconds).
    """

    def __init__(self, db: str | Path, roots=None, config: IndexConfig | None = None, refresh_s: float = 2.0):
        from ..api import Index

        self.db = Path(db).expanduser().absolute()
        self.explicit_roots = tuple(os.path.realpath(os.path.expanduser(str(r))) for r in roots) if roots else None
        self.config = config
        self.refresh_s = refresh_s
        self.index = Index(self.db, config or IndexConfig())
        _upgrade_tables(self.index.store)
        self.thumbs = ThumbCache()
        self.heavy = HeavySlots()  # full-size decodes of query pictures, recordings and uploaded videos
        self.searches = SearchSlots()  # searches at once (the rest wait their turn)
        self._loading = {"ready": False, "started": None, "finished": None, "models": {}}
        self._loader: threading.Thread | None = None
        self._probe_cache: dict = {}
        self._models = None
        self._watch = VersionWatch(self.db)
        self._lock = threading.RLock()
        self._snap: Snapshot | None = None
        self.pool = None  # a SearchPool answering text searches in worker processes (omnidex.serve.pool.attach)
        self.refresh(force=True)

    # ----- snapshots ------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Move readers to the latest committed state when it changed.

        Args:
            force: take the latest versions even when a batch looks in flight (start-up).
        Returns:
            True when a new snapshot was published.
        """
        with self._lock:
            versions = self._watch.committed(force=force)
            if versions is None or (self._snap is not None and versions == self._snap.versions):
                if self._snap is not None:
                    self._snap = replace(self._snap, taken=time.time())
                return False
            self._snap = self._take(versions)
            self.index.use(self._snap.store, self._snap.searcher)
            return True

    def pin(self, versions: dict) -> Snapshot:
        """Serve exactly these committed versions from now on (a search worker is given the server's
        with each request; see :mod:`omnidex.serve.pool`).

        Returns:
            The snapshot of ``versions`` (taken now unless it is the current one).
        """
        with self._lock:
            if self._snap is None or self._snap.versions != versions:
                self._snap = self._take(versions)
                self.index.use(self._snap.store, self._snap.searcher)
            return self._snap

    def _take(self, versions: dict) -> Snapshot:
        from ..search.engine import Searcher

        store = ServedStore(self.db, versions) if SERVE_LEVERS else PinnedStore(self.db, versions)
        files, every = {}, []
        tbl = store.table(FILES)
        if tbl is not None:
            cols = ["path", "kind", "status", "duration", "size", "mtime", "info", "reason", "segments"]
            every = tbl.to_arrow().select(cols).to_pylist()
            files = {r["path"]: r for r in every if r["status"] == "indexed"}
        if SERVE_LEVERS:
            store.hold_files(every)
        searcher = Searcher(store, models=self._search_models(store))
        searcher.query_files = False  # a query from the network never reads files of this machine
        searcher.share_text = SERVE_LEVERS
        roots = self.explicit_roots or _default_roots(self.db, files)
        return Snapshot(versions, store, searcher, files, {file_id(p): p for p in files}, roots, time.time())

    def _search_models(self, store):
        """Query encoders matching the store's spaces (kept while the spaces do not change)."""
        from ..search.engine import Searcher

        cfg = Searcher.config_for(store, self.index.config.whisper_model, self.index.config.runtimes)
        if self._models is None or self._models.cfg != cfg:
            reload = self._models is not None and self._loader is not None
            self._models = SharedModels(cfg)
            if reload:  # new spaces (e.g. the first ingest into an empty index): load their encoders now
                self._loader, self._loading = None, {**self._loading, "ready": False}
                self.start_loading()
        return self._models

    def snapshot(self) -> Snapshot:
        """The current snapshot (refreshed when older than ``refresh_s``)."""
        snap = self._snap
        if snap is None or time.time() - snap.taken > self.refresh_s:
            with self._lock:
                if self._snap is snap:  # nobody refreshed while this reader waited for the lock
                    try:
                        self.refresh()
                    except Exception:  # noqa: BLE001 - a failed refresh keeps the last good snapshot
                        pass
                snap = self._snap
        return snap

    def ingest_config(self) -> IndexConfig:
        """The ingest configuration of index jobs (see the ``config`` argument)."""
        if self.config is not None:
            return self.config
        store = self.snapshot().store
        visual, text = store.space_spec("visual"), store.space_spec("text")
        if visual is None and text is None:
            return IndexConfig()
        clip = dict(visual.kwargs).get("model") if visual else None
        return IndexConfig(clip_model=clip, text_encoder=text.name if text else "minilm")

    @property
    def roots(self) -> tuple:
        """Real paths of the folders media is served from."""
        return self.snapshot().roots

    # ----- ids and paths -------------------------------------------------------------------------
    def file_id(self, path: str) -> str:
        """The id of an indexed path (see :func:`file_id`)."""
        return file_id(path)

    def path_of(self, file_id: str) -> str:
        """The indexed path with this id.

        Raises:
            KeyError: no indexed file has this id.
        """
        snap = self.snapshot()
        if not isinstance(file_id, str) or file_id not in snap.ids:
            raise KeyError(f"no indexed file with id {file_id!r}")
        return snap.ids[file_id]

    def resolve(self, file_id: str) -> Path:
        """The real path of an indexed file, checked to lie inside a root.

        Raises:
            KeyError: unknown id.
            PermissionError: the file (or a symlink on its way) leads outside the roots.
            FileNotFoundError: indexed but gone from disk (or not a regular file any more).
        """
        path = self.path_of(file_id)
        real = os.path.realpath(path)
        roots = self.snapshot().roots
        if not any(_inside(real, root) for root in roots):
            raise OutsideRoots(f"file {file_id} lies outside the served roots", roots)
        if not os.path.isfile(real):
            raise FileNotFoundError(f"{path}: indexed but no longer a readable file")
        return Path(real)

    def open_media(self, file_id: str) -> tuple[int, os.stat_result, str]:
        """Open an indexed file for reading, then check what was opened (no check-then-open race).

        The last component is opened with ``O_NOFOLLOW``; the descriptor's own path (``/proc/self/fd``)
        must lie inside a root and ``fstat`` must show a regular file, so a folder or symlink swapped
        in between the lookup and the open is refused.

        Returns:
            (descriptor, its stat, the real path opened); the caller closes the descriptor.
        Raises:
            KeyError: unknown id. OutsideRoots: outside the roots. FileNotFoundError: gone or not a file.
        """
        path = self.path_of(file_id)
        real = self.resolve(file_id)  # a readable message for the usual refusals
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags)
        except OSError as exc:
            raise FileNotFoundError(f"{path}: indexed but no longer a readable file") from exc
        try:
            st = os.fstat(fd)
            opened = _fd_path(fd, real, st)
            roots = self.snapshot().roots
            if not any(_inside(opened, root) for root in roots):
                raise OutsideRoots(f"file {file_id} lies outside the served roots", roots)
            if not stat.S_ISREG(st.st_mode):
                raise FileNotFoundError(f"{path}: indexed but no longer a regular file")
            return fd, st, opened
        except BaseException:
            os.close(fd)
            raise

    def allowed(self, path: str | Path) -> bool:
        """Whether ``path`` may be indexed: inside a root (``--root``, or else a folder already indexed,
        or one holding indexed files).

        Without explicit roots nothing new can be indexed through the server outside what is already
        served: otherwise a request could index ``~/.ssh`` and then download it.
        """
        real = os.path.realpath(os.path.expanduser(str(path)))
        return any(_inside(real, root) for root in self.snapshot().roots)

    def _guarded(self, file_id: str) -> str:
        """The indexed path of ``file_id`` after checking it lies inside the roots (it may be gone from disk).

        Raises:
            KeyError: unknown id. PermissionError: outside the roots.
        """
        path = self.path_of(file_id)
        roots = self.snapshot().roots
        if not any(_inside(os.path.realpath(path), root) for root in roots):
            raise OutsideRoots(f"file {file_id} lies outside the served roots", roots)
        return path

    # ----- search -----------------------------------------------------------------------------
    def search(self, text=None, *, image=None, audio=None, top_k: int = 10, modality=(), path_glob=None,
               in_id=None, image_name: str = "query image", audio_name: str = "query recording") -> list[dict]:
        """Ranked moments as HIT dicts (``Hit.to_dict()`` plus id, name, kind, thumb_url, media_url).

        Query pictures are searched at a bounded size and recordings by their first 30 s
        (:mod:`omnidex.serve.limits`); errors about them name ``image_name`` / ``audio_name``.

        Args:
            text: words to look for (at most 2000 characters).
            image: query image (a path, or the file's bytes).
            audio: query recording (a path, or bytes); transcribed and searched as text.
            top_k: moments to return (1..200).
            modality: file kinds / sources to keep: a comma string or a list.
            path_glob: keep only paths matching this glob.
            in_id: search within the file with this id.
            image_name: what the user calls the query image (messages never show a temporary path).
            audio_name: what the user calls the query recording.
        Returns:
            Hits, best first; only files of the current committed snapshot.
        Raises:
            KeyError: unknown ``in_id``. OmnidexError: no query, unknown modality, bad glob.
            MediaError: an unreadable or too large query file. Busy: no decode slot free in time.
        """
        snap = self.snapshot()
        cfg = self._search_config(snap, top_k, modality, path_glob, in_id)
        text = check_query(text.strip() if isinstance(text, str) else text)
        if text and image is None and audio is None and self.pool is not None:
            hits = self.pool.search(snap.versions, text=text, top_k=top_k, modality=modality,
                                    path_glob=path_glob, in_id=in_id)
            if hits is not None:  # None: no worker could answer; search here
                return hits
        with _as_file(image, ".img") as img, _as_file(audio, ".audio") as aud:
            if not text and img is None and aud is None:
                raise OmnidexError("give a text query (q), an image or an audio file")
            with self._bounded(img, aud, image_name, audio_name) as (small, clip), self.searches.slot():
                hits = snap.searcher.search(text=text or None, image=small, audio=clip, cfg=cfg)
        return [self._hit_dict(h, snap) for h in hits if h.path in snap.files and self._served(h.path, snap)]

    @contextmanager
    def _bounded(self, image, audio, image_name: str, audio_name: str):
        """(image, audio) cut down to query size; a query with either holds a heavy-work slot for the
        decode and the search (so a burst runs two at a time), and reduced copies are deleted after.

        A MediaError about either file is re-raised naming what the user calls it.
        """
        made = []
        slot = self.heavy.slot() if image is not None or audio is not None else nullcontext()
        try:
            with slot:
                if image is not None:
                    small = bounded_image(image, image_name)
                    made += [small] if small != str(image) else []
                    image = small
                if audio is not None:
                    audio = bounded_audio(audio, audio_name)
                    made.append(audio)
                try:
                    yield image, audio
                except MediaError as exc:
                    named = image_name if exc.path == image else audio_name if exc.path == audio else None
                    if named is None:
                        raise
                    raise MediaError(named, exc.reason) from None
        finally:
            for path in made:
                if os.path.exists(path):
                    os.unlink(path)

    @staticmethod
    def _served(path: str, snap: "Snapshot") -> bool:
        """Whether an indexed path lies inside the snapshot's roots (hits elsewhere are not shown)."""
        real = os.path.realpath(path)
        return any(_inside(real, root) for root in snap.roots)

    def _search_config(self, snap: Snapshot, top_k, modality, path_glob, in_id) -> SearchConfig:
        from ..search.engine import KINDS as KIND_NAMES, SOURCES

        if isinstance(modality, str):
            modality = [m for m in modality.split(",")]
        modality = tuple(m.strip() for m in (modality or ()) if m and m.strip())
        bad = [m for m in modality if m not in KIND_NAMES and m not in SOURCES]
        if bad:
            raise OmnidexError(f"unknown modality {bad}; choose from {list(KIND_NAMES) + list(SOURCES)}")
        if path_glob is not None and (len(path_glob) > MAX_GLOB or any(ord(c) < 32 for c in path_glob)):
            raise OmnidexError(f"path glob must be at most {MAX_GLOB} printable characters")
        in_path = snap.ids.get(in_id) if in_id else None
        if in_id and in_path is None:
            raise KeyError(f"no indexed file with id {in_id!r}")
        top_k = int(top_k)
        if not 1 <= top_k <= MAX_TOP_K:
            raise OmnidexError(f"top_k must be between 1 and {MAX_TOP_K}")
        return replace(SearchConfig(), top_k=top_k, modality=modality, path_glob=_safe_glob(path_glob),
                       in_path=in_path)

    def _hit_dict(self, hit, snap: Snapshot) -> dict:
        d = hit.to_dict()
        fid = file_id(hit.path)
        t = hit.frame_time if hit.frame_time is not None else hit.start
        kind = snap.files[hit.path]["kind"]
        if kind in ("image", "text"):
            t = 0.0
        d.update(id=fid, name=os.path.basename(hit.path), kind=kind,
                 thumb_url=f"/api/thumb/{fid}?t={round(float(t), 3):g}", media_url=f"/media/{fid}")
        return d

    # ----- items -----------------------------------------------------------------------------
    def describe(self, file_id: str) -> dict:
        """Everything known about one indexed file (the ``/api/items/{id}`` object).

        Raises:
            KeyError: unknown id. PermissionError: outside the roots.
        """
        snap = self.snapshot()
        path = self._guarded(file_id)
        row = snap.files[path]
        info = json.loads(row["info"]) if row.get("info") else {}
        rows = _rows_of(snap.store, "text", path)
        transcript = [_window(r) for r in rows if r["source"] == "speech"]
        ocr = [{"start": r["start"], "end": r["end"], "text": original_text(r["text"])}
               for r in rows if r["source"] == "ocr"]  # as read on screen (without the split-word stream)
        chunks = [{"start": r["start"], "end": r["end"], "text": r["text"]} for r in rows if r["source"] == "chunk"]
        segments = {s: snap.store.table(s).count_rows(f"path = {sql_str(path)}") for s in snap.store.spaces()}
        out = {"id": file_id, "path": path, "name": os.path.basename(path), "kind": row["kind"],
               "duration": row["duration"], "size": row["size"], "note": row.get("reason") or "",
               "info": info, "probe": None, "transcript": transcript, "ocr": ocr, "text": chunks,
               "segments": segments, "media_url": f"/media/{file_id}", "thumb_url": f"/api/thumb/{file_id}"}
        if row["kind"] in ("video", "audio"):
            out["probe"], err = self._probe(path, row)
            if err:
                out["probe_error"] = err
        out["summary"] = _summary(out)
        return out

    def _probe(self, path: str, row: dict) -> tuple[dict | None, str]:
        key = (path, row["mtime"], row["size"])
        if key not in self._probe_cache:
            from ..media.probe import probe_file

            try:
                self._probe_cache[key] = (probe_file(self.resolve(file_id(path))), "")
            except (OmnidexError, OSError) as exc:
                return None, str(exc)
        return self._probe_cache[key]

    def transcript(self, file_id: str, start=None, end=None) -> list[dict]:
        """Transcript windows of a file overlapping ``[start, end]`` (seconds; None = open).

        Raises:
            KeyError: unknown id. PermissionError: outside the roots.
        """
        snap = self.snapshot()
        path = self._guarded(file_id)
        lo = float("-inf") if start is None else float(start)
        hi = float("inf") if end is None else float(end)
        return [_window(r) for r in _rows_of(snap.store, "text", path)
                if r["source"] == "speech" and r["end"] >= lo and r["start"] <= hi]

    def thumbnail(self, file_id: str, t: float | None = None, width: int = 320) -> bytes:
        """JPEG thumbnail of a file at ``t`` (cached).

        Raises:
            KeyError / PermissionError / FileNotFoundError: as :meth:`resolve`.
        """
        real = self.resolve(file_id)
        row = self.snapshot().files[self.path_of(file_id)]
        st = real.stat()
        t = None if t is None else round(max(0.0, float(t)), 1)
        key = (str(real), st.st_mtime_ns, st.st_size, t, int(width))
        data = self.thumbs.get(key)
        if data is None:  # a large picture's decode takes a heavy-work slot, like a query's
            with self.heavy.slot() if row["kind"] == "image" and _big_picture(real) else nullcontext():
                data = render_thumbnail(real, row["kind"], t, int(width), row["duration"] or 0.0)
            self.thumbs.put(key, data)
        return data

    def export_clip(self, file_id: str, start: float, end: float, out_dir) -> Path:
        """Cut ``[start, end)`` of an indexed video into ``out_dir`` (stream copy when possible).

        Returns:
            The written clip's path.
        Raises:
            KeyError / PermissionError: as :meth:`resolve`. MediaError: bad times or not a video.
        """
        from ..media.clip import export_clip

        src = self.resolve(file_id)
        kind = self.snapshot().files[self.path_of(file_id)]["kind"]
        if kind != "video":
            raise MediaError(f"{src}: clips are cut from videos, this file is {kind or 'not a video'}")
        out_dir = Path(out_dir).expanduser()
        out_dir.mkdir(parents=True, exist_ok=True)
        suffix = src.suffix.lower() if src.suffix.lower() in (".mp4", ".m4v", ".mov", ".mkv", ".webm") else ".mp4"
        out = out_dir / f"{src.stem}_{float(start):.1f}-{float(end):.1f}{suffix}"
        return Path(export_clip(src, float(start), float(end), out).path)

    def classify(self, image_or_id, labels: list[str], top_k: int = 5, name: str | None = None) -> list[dict]:
        """Zero-shot labels for an indexed file (by id) or an image/video (path or bytes).

        Pictures are classified at query size (see :meth:`search`); videos decode inside a slot.

        Args:
            image_or_id: an indexed file's id, or a path / bytes of a picture or video.
            labels: at most 64 labels of at most 100 characters each.
            top_k: labels returned.
            name: what the user calls the file (messages never show a temporary path).
        Returns:
            ``[{"label", "p"}]``, most likely first.
        Raises:
            ValueError: no labels, or too many / too long. MediaError: unreadable or too large file.
            OmnidexError: no image-text encoder.
        """
        from ..classify import classify
        from ..media.sniff import sniff

        labels = check_labels(labels)
        if isinstance(image_or_id, str) and image_or_id in self.snapshot().ids:
            name = name or os.path.basename(self.path_of(image_or_id))
            image_or_id = self.resolve(image_or_id)
        with _as_file(image_or_id, ".img") as path:
            name = name or "uploaded file"
            with self.heavy.slot():
                small = bounded_image(path, name) if sniff(path) == "image" else path
                try:
                    encoder = self._visual_encoder()
                    result = classify([small], labels, encoder, top_k=max(1, int(top_k)))[0]
                finally:
                    if small != path:
                        os.unlink(small)
        if "error" in result:
            reason = result["error"].replace(f"{small}: ", "").replace(str(small), name)
            raise MediaError(name, reason)
        return [{"label": label, "p": p} for label, p in result["top"]]

    def _visual_encoder(self):
        snap = self.snapshot()
        enc = snap.searcher.encoder("visual") if snap.store.space_spec("visual") else None
        if enc is None:
            from ..train.evaluate import encoder_from_spec

            enc = encoder_from_spec(None)
        return enc

    # ----- models and readiness ------------------------------------------------------------------
    def close_pool(self) -> None:
        """Stop the search workers (searches go on in this process)."""
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()

    def start_loading(self) -> threading.Thread:
        """Load the query models in a background thread (once); :meth:`health` reports progress.

        Returns:
            The loading thread.
        """
        with self._lock:
            if self._loader is None:
                self._loader = threading.Thread(target=self.load_models, name="omnidex-load-models", daemon=True)
                self._loader.start()
            return self._loader

    def load_models(self) -> dict:
        """Load every query encoder of the served spaces, their score references and domain gates,
        and run one warm-up search, so the first real search does not pay for them.

        Returns:
            The ``models`` part of :meth:`health`: name -> "ready", "unavailable" or "failed: why".
        """
        with self._lock:  # a refresh publishing a new snapshot holds the lock: load that one
            snap = self._snap
        spaces = [s for s in QUERY_SPACES if snap.store.space_spec(s) is not None]
        with self._lock:
            self._loading = {"ready": False, "started": time.time(), "finished": None,
                             "models": {name: "waiting" for name in spaces + ["reranker", "warm-up"]}}
        for space in spaces:
            self._load_one(space, lambda space=space: _load_space(snap.searcher, space))
        self._load_one("reranker", lambda: "ready" if snap.searcher.reranker is not None else "unavailable")
        self._load_one("warm-up", lambda: _warm_up(snap.searcher))
        with self._lock:
            self._loading.update(ready=True, finished=time.time())
            return dict(self._loading["models"])

    def _load_one(self, name: str, load) -> None:
        self._set_model(name, "loading")
        try:
            state = load()
        except Exception as exc:  # noqa: BLE001 - one model failing leaves the others usable
            state = f"failed: {type(exc).__name__}: {exc}"[:300]
        self._set_model(name, state)

    def _set_model(self, name: str, state: str) -> None:
        with self._lock:
            self._loading["models"][name] = state

    def warm(self) -> None:
        """Load the query models now, in this thread (see :meth:`load_models`); errors are recorded, not raised."""
        self.load_models()

    def health(self) -> dict:
        """Counts per table, the encoder of every space, and readiness (the ``/api/health`` object):
        ``ready`` is False until every query model is loaded; ``models`` says which are loading."""
        from .. import __version__

        store = self.snapshot().store
        spaces = {}
        for space in store.spaces():
            spec = store.space_spec(space)
            spaces[space] = {"rows": store.count(space), "encoder": spec.identity, "dim": spec.dim}
        with self._lock:
            loading = {**self._loading, "models": dict(self._loading["models"])}
        took = (loading["finished"] or time.time()) - loading["started"] if loading["started"] else None
        return {"status": "ok", "version": __version__, "db": str(self.db),
                "files": len(self.snapshot().files), "spaces": spaces, "ready": loading["ready"],
                "models": loading["models"], "loading_s": None if took is None else round(took, 2),
                "search_workers": self.searches.workers, "heavy": self.heavy.state(),
                "search_processes": self.pool.state() if self.pool is not None else None}


def _warm_up(searcher) -> str:
    """One search through every signal (FTS, tokenizers, first-call allocations); "ready"."""
    searcher.search(text="warm up", cfg=replace(SearchConfig(), top_k=1))
    return "ready"


def _load_space(searcher, space: str) -> str:
    """Load one space's query encoder with its score reference and domain gate; its state."""
    from ..search.domain import gate_for
    from ..search.reference import reference_for

    enc = searcher.models.encoder(space)
    if enc is None:
        return "unavailable"
    reference_for(space, enc)
    if space != "text":
        gate_for(enc)
    return "ready"


class _Guarded:
    """An encoder shared by concurrent searches. Its ``encode_*`` calls run one at a time under
    the encoder's own lock (a torch module with its tokenizer is not safe to call from several
    threads, and one call already uses every core), except an ONNX Runtime text tower's
    ``encode_text`` (its sessions are thread-safe). Everything else is the encoder's own.

    Args:
        encoder: the encoder to share.
    """

    def __init__(self, encoder):
        self.__dict__["_enc"] = encoder
        self.__dict__["_lock"] = threading.Lock()

    @property
    def wrapped(self):
        """The encoder itself."""
        return self._enc

    def __getattr__(self, name: str):
        attr = getattr(self._enc, name)
        if not (name.startswith("encode_") and callable(attr)) or self._thread_safe(name):
            return attr
        lock = self._lock

        def call(*args, **kwargs):
            with lock:
                return attr(*args, **kwargs)

        return call

    def _thread_safe(self, name: str) -> bool:
        if getattr(self._enc, "thread_safe", False):
            return True
        runtime = getattr(self._enc, "text_runtime", None) or getattr(self._enc, "runtime", "")
        return name == "encode_text" and str(runtime).startswith("onnx")


class SharedModels(Models):
    """:class:`~omnidex.spaces.Models` whose encoders are safe to share between concurrent
    searches (each wrapped once in :class:`_Guarded`)."""

    def encoder(self, space: str):
        enc = super().encoder(space)
        if enc is None:
            return None
        with self._lock:
            guarded = self._cache.get(("shared", space))
            if guarded is None or guarded.wrapped is not enc:
                guarded = self._cache[("shared", space)] = _Guarded(enc)
            return guarded


def _upgrade_tables(store) -> None:
    """Let the normal store add columns older tables lack, before readers pin versions."""
    try:
        store.upgrade_tables()
    except Exception:  # noqa: BLE001 - a read-only database still serves what it has
        pass


def _safe_glob(glob: str | None) -> str | None:
    """The glob as the engine takes it: quoted into SQL by ``sql_str`` and checked again by fnmatch,
    so LIKE wildcards (``%``, ``_``) or escapes in it can only narrow the rows, never add any."""
    return glob or None


def _rows_of(store, space: str, path: str) -> list[dict]:
    tbl = store.table(space)
    if tbl is None:
        return []
    cols = ["source", "start", "end", "text", "words"]
    rows = tbl.search().where(f"path = {sql_str(path)}").select(cols).limit(None).to_list()
    return sorted(rows, key=lambda r: (r["start"], r["end"]))


def _window(r: dict) -> dict:
    words = json.loads(r["words"]) if r.get("words") else []
    return {"start": r["start"], "end": r["end"], "text": r["text"],
            "words": [{"w": w[2], "s": w[0], "e": w[1]} for w in words]}


def _summary(item: dict) -> str:
    """One line a person (or an agent) reads first."""
    from ..types import format_time

    parts = [item["kind"] or "file"]
    if item["kind"] in ("video", "audio") and item["duration"]:
        parts.append(format_time(item["duration"]))
    if item["info"].get("shots"):
        parts.append(f"{len(item['info']['shots'])} shots")
    if item["transcript"]:
        lang = item["info"].get("language")
        words = " ".join(w["text"] for w in item["transcript"])
        parts.append(f"speech{f' ({lang})' if lang else ''}: “{words[:160]}”")
    if item["ocr"]:
        parts.append("on screen: " + " | ".join(dict.fromkeys(o["text"] for o in item["ocr"]))[:120])
    if item["text"]:
        parts.append(" ".join(item["text"][0]["text"].split())[:160])
    return " · ".join(parts)


class _as_file:
    """Context manager: a path stays a path; bytes become a temporary file (deleted after)."""

    def __init__(self, value, suffix: str):
        self.value, self.suffix, self.tmp = value, suffix, None

    def __enter__(self):
        if isinstance(self.value, (bytes, bytearray, memoryview)):
            fd, name = tempfile.mkstemp(prefix="omnidex-query-", suffix=self.suffix)
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(self.value))
            self.tmp = name
            return name
        return None if self.value is None else str(self.value)

    def __exit__(self, *exc):
        if self.tmp:
            os.unlink(self.tmp)
        return False
