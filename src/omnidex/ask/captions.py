"""``caption``: describe images and video shots with a vision-language model, and index the
captions as text evidence (source ``caption``, the shot's time span) so they become searchable."""
from __future__ import annotations

import json
import os
import time
import uuid

from ..errors import MediaError, OmnidexError
from ..store import sql_str
from .backends import ChatBackend, LLMConfig, make_backend

PROMPT = ("Describe this picture in one short sentence for a search index: the main objects, their "
          "colours, any visible text, and what is happening. Answer with the sentence only.")
MAX_SHOTS = 200  # shots captioned per video at most


def caption_image(backend: ChatBackend, image, prompt: str = PROMPT) -> str:
    """One caption for a PIL image."""
    text = backend.chat([{"role": "user", "content": [image, prompt]}])
    return " ".join(text.split())


def targets(store, paths=None) -> list[dict]:
    """Indexed images and videos (under ``paths`` when given): files rows, sorted by path."""
    tbl = store.table("files")
    if tbl is None:
        return []
    rows = tbl.search().where("status = 'indexed' AND kind IN ('image', 'video')").limit(None).to_list()
    if paths:
        roots = [os.path.abspath(os.path.expanduser(str(p))) for p in paths]
        rows = [r for r in rows
                if any(r["path"] == x or r["path"].startswith(x.rstrip(os.sep) + os.sep) for x in roots)]
    return sorted(rows, key=lambda r: r["path"])


def spans(row: dict) -> list[tuple[float, float]]:
    """What gets one caption: the whole image, or each shot of a video."""
    if row["kind"] == "image":
        return [(0.0, 0.0)]
    info = json.loads(row["info"]) if row.get("info") else {}
    shots = [(float(s[0]), float(s[1])) for s in info.get("shots", [])]
    return (shots or [(0.0, float(row.get("duration") or 0.0))])[:MAX_SHOTS]


def caption_file(backend: ChatBackend, row: dict, prompt: str = PROMPT) -> list:
    """Caption pieces (``Piece`` with source "caption") of one image or video."""
    from ..types import Piece

    pieces = []
    for start, end in spans(row):
        if row["kind"] == "image":
            from ..media.image import load_image

            text = caption_image(backend, load_image(row["path"]), prompt)
            pieces.append(Piece("caption", 0.0, 0.0, "none", text=text))
            continue
        from ..media.contact import frame_at

        t = (start + end) / 2
        text = caption_image(backend, frame_at(row["path"], t), prompt)
        pieces.append(Piece("caption", start, end, "s", text=text, at=t))
    return [p for p in pieces if p.text]


def caption(index, paths=None, llm: LLMConfig | None = None, backend: ChatBackend | None = None,
            prompt: str = PROMPT, progress=None) -> list[dict]:
    """Caption indexed images and video shots and add the captions to the text space.

    Earlier captions of the same files are replaced. A file that cannot be read or captioned is
    reported and skipped.

    Args:
        index: an :class:`omnidex.Index`.
        paths: only files under these paths (default: every indexed image and video).
        llm: backend settings (default: the environment).
        backend: a ready backend (overrides ``llm``).
        prompt: the instruction sent with each picture.
        progress: optional callable ``(done, total, path)``.
    Returns:
        One dict per caption: path, start, end, caption (or path and error).
    """
    backend = backend or make_backend(llm or LLMConfig.from_env())
    store = index.store
    files = targets(store, paths)
    if not files:
        raise OmnidexError(f"no indexed images or videos{' under ' + ', '.join(map(str, paths)) if paths else ''} "
                           f"in {store.root}: run `omnidex index` first")
    models = _text_models(store)
    out: list[dict] = []
    store.lock()
    try:
        for i, row in enumerate(files):
            if progress:
                progress(i, len(files), row["path"])
            try:
                pieces = caption_file(backend, row, prompt)
            except (MediaError, OSError) as exc:
                out.append({"path": row["path"], "error": str(exc)})
                continue
            _write(store, models, row, pieces)
            out += [{"path": row["path"], "start": p.start, "end": p.end, "caption": p.text} for p in pieces]
        store.optimize()
    finally:
        store.unlock()
        index.forget_searcher()  # the text space changed
    if progress:
        progress(len(files), len(files), "")
    return out


def _text_models(store):
    """Encoders matching the store's text space (MiniLM when the index has none yet)."""
    from ..config import IndexConfig
    from ..spaces import Models

    spec = store.space_spec("text")
    return Models(IndexConfig(clip_model=None, text_encoder=spec.name if spec else "minilm", speech=False, ocr=False))


def _write(store, models, row: dict, pieces: list) -> None:
    """Replace the file's caption rows with ``pieces``, as one journaled batch."""
    from ..ingest.embed import embed_pieces
    from ..types import Extracted

    spec = models.spec("text")
    if spec is None:
        raise OmnidexError("captions need the text encoder: " + "; ".join(models.notices))
    store.ensure_space("text", spec)
    where = f"path = {sql_str(row['path'])} AND source = 'caption'"
    old = store.table("text").count_rows(where)
    store.table("text").delete(where)
    batch = uuid.uuid4().hex
    base = {"path": row["path"], "sha256": row["sha256"], "mtime": row["mtime"], "kind": row["kind"], "batch": batch}
    rows = embed_pieces(Extracted(pieces), base, models).get("text", [])
    segments = max(0, int(row["segments"] or 0) - old) + len(rows)
    file_row = {**row, "batch": batch, "segments": segments, "indexed_at": time.time()}
    file_row.pop("_rowid", None)
    store.commit(batch, [file_row], {"text": rows}, [])


