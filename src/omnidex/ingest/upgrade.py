"""Bring an index built by an older omnidex up to what this one stores, once, without re-decoding media.

Three additions since the first near-duplicate release:

* ``region`` rows in the ``phash`` space for the pictures inside indexed screenshots (a photo
  then finds the screenshot that shows it). Only still images are read again, from disk.
* the split-word stream after OCR text (``PARKINGPERMIT ‖ parking permit``), computed from the
  stored text itself; the text vectors stay those of the recognised text.
* the faint path's stroke views (words at low opacity over a crowd or other clutter as wide as
  their strokes), five-letter look-alike repairs (``ocr-stroke-views-v1``), the lexicon rescoring
  of faint readings and guesses marked as guesses (:mod:`..encoders.ocr_lexicon`;
  ``ocr-faint-reread-v2``, which an index that had v1 gets too), and the faint boxes' frames that
  query words are spotted in (:mod:`..encoders.ocr_spot`; ``ocr-faint-reread-v3``): still images
  with stored OCR text are read again, and the hidden word stream and the frames are replaced
  where the reading gained words or frames. The
  first reading, which people see and the text vectors encode, is kept; a picture whose first
  reading came out differently (another OCR version) is left as it was.
* the faint-text trigger (:mod:`..encoders.ocr_trigger`, ``ocr-faint-trigger-v1``): still images
  in which nothing was read are shown to it (a few ms each), and those it marks are read with the
  faint path; what that reads becomes their OCR text, as a new index would store it.

What was done is recorded in ``upgrades.json`` beside the database, so it happens and is
announced once.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..store import sql_str

FAINT_REREAD = "ocr-faint-reread-v3"  # the faint path as it reads now (v1: the stroke views; v2: guesses)
TRIGGER = "ocr-faint-trigger-v1"  # still images without OCR text that the faint-text trigger marks
MARKS = ("neardup-regions-v1", "ocr-split-words-v1", FAINT_REREAD, TRIGGER)


def _marks_file(store) -> Path:
    return Path(store.root) / "upgrades.json"


def _done(store) -> set[str]:
    try:
        return set(json.loads(_marks_file(store).read_text()))
    except (OSError, ValueError):
        return set()


def upgrade(store, models, progress=None) -> list[str]:
    """Apply the upgrades this index has not had yet.

    Args:
        store: the open store (the writer lock held).
        models: encoders (the ``phash`` one is used for region rows, the OCR reader to read again).
        progress: ``(done, total, path)`` callable for the pictures read again, or None.
    Returns:
        One notice per upgrade that changed something (empty when none did).
    """
    done = _done(store)
    if done >= set(MARKS):
        return []
    notes = []
    if "neardup-regions-v1" not in done:
        n = _add_regions(store, models)
        if n:
            notes.append(f"index upgraded: {n} indexed screenshot(s) gained near-duplicate rows for the "
                         f"pictures inside them")
    if "ocr-split-words-v1" not in done:
        n = _split_ocr_words(store)
        if n:
            notes.append(f"index upgraded: {n} OCR text(s) gained split words (glued words are now found)")
    marks = set(MARKS)
    if FAINT_REREAD not in done:
        n = _reread_faint(store, models, progress)
        if n is None:  # OCR is off in this run: read them again on a run that reads text
            marks.discard(FAINT_REREAD)
        elif n[0]:
            notes.append(f"index upgraded: {n[0]} picture(s) read again with the faint-text reading, {n[1]} of them "
                         f"gained words or boxes to spot words in (words at low opacity over busy photographs "
                         f"are now found; words guessed or spotted in faint letters count as guesses)")
    if TRIGGER not in done:
        n = _trigger_unread(store, models, progress)
        if n is None:  # no OCR reader, trigger or text encoder in this run: on a later run that has them
            marks.discard(TRIGGER)
        elif n[1]:
            notes.append(f"index upgraded: {n[0]} picture(s) without text shown to the faint-text trigger, {n[1]} "
                         f"read again with the faint-text reading, {n[2]} of them gained text")
    if notes:
        store.optimize()
    _marks_file(store).write_text(json.dumps(sorted(done | marks)))
    return notes


def _add_regions(store, models) -> int:
    """Region rows for indexed still images that have none; returns how many images gained some."""
    from ..errors import MediaError, MissingExtra
    from .embed import region_pieces, piece_rows
    from ..types import Piece

    tbl = store.table("phash")
    enc = models.encoder("phash") if tbl is not None else None
    if enc is None or enc.identity != store.space_spec("phash").identity:
        return 0
    have = {r["path"] for r in tbl.search().where("source = 'region'").select(["path"]).limit(None).to_list()}
    images = tbl.search().where("source = 'image'").select(["path", "sha256", "mtime", "kind", "batch"]).limit(None).to_list()
    gained, rows = 0, []
    for r in images:
        if r["path"] in have:
            continue
        try:
            pieces = region_pieces([Piece("image", 0.0, 0.0, "none", image=_load(r["path"]))])
        except (MediaError, MissingExtra, OSError):
            continue
        if pieces:
            base = {k: r[k] for k in ("path", "sha256", "mtime", "kind", "batch")}
            new = piece_rows(pieces, enc.encode_image([p.image for p in pieces]), base)
            rows += [{**row, "id": f"{row['id']}:u"} for row in new]
            gained += 1
    if rows:
        tbl.add(rows)
    return gained


def _load(path: str):
    from ..media.image import load_image

    img = load_image(path)
    img.thumbnail((1024, 1024))  # as ingest saw it
    return img


def _split_ocr_words(store) -> int:
    """Append the split-word stream to stored OCR texts that lack it; returns how many changed."""
    from ..encoders.wordsplit import SEPARATOR, with_split_words

    tbl = store.table("text")
    if tbl is None:
        return 0
    rows = tbl.search().where("source = 'ocr'").select(["id", "text"]).limit(None).to_list()
    changed = []
    for r in rows:
        text = r["text"] or ""
        if SEPARATOR.strip() not in text and (new := with_split_words(text)) != text:
            changed.append((r["id"], new))
    for row_id, text in changed:  # few rows change (only texts with glued words): one update each
        tbl.update(where=f"id = {sql_str(row_id)}", values={"text": text})
    return len(changed)


def _reread_faint(store, models, progress=None) -> tuple[int, int] | None:
    """Read again the indexed still images that have OCR text; where the first reading is
    unchanged, store the new hidden word stream and the faint boxes' spotting frames
    (:mod:`~omnidex.encoders.ocr_spot`) where they differ. Returns (pictures changed, of those the
    ones that gained words, guesses counted without their mark, or boxes to spot words in), or None
    when there are such images but this run has no OCR reader."""
    from ..encoders.ocr_spot import is_packed
    from ..encoders.wordsplit import original_text
    from ..errors import MediaError
    from .extract import ocr_piece

    tbl = store.table("text")
    if tbl is None:
        return 0, 0
    rows = tbl.search().where("source = 'ocr' AND kind = 'image'").select(["id", "path", "text", "words"]).limit(None).to_list()
    if not rows:
        return 0, 0
    ocr = models.ocr()
    if ocr is None:
        return None
    changed = []
    for i, r in enumerate(rows):
        if progress:
            progress(i, len(rows), f"reading again: {r['path']}")
        old = r["text"] or ""
        try:
            piece = ocr_piece(ocr, _load(r["path"]))
        except (MediaError, OSError, ValueError):  # moved, deleted or unreadable since: left as stored
            continue
        new, packed = (piece.text, piece.spots) if piece is not None else ("", "")
        if original_text(new).strip() != original_text(old).strip():
            continue  # read otherwise now (another reader): the next full re-index decides
        if new != old or packed != (r["words"] if is_packed(r["words"]) else ""):
            gained = bool(_words(new) - _words(old)) or (bool(packed) and not is_packed(r["words"]))
            changed.append((r["id"], {"text": new, "words": packed}, gained))
    for row_id, values, _ in changed:
        tbl.update(where=f"id = {sql_str(row_id)}", values=values)
    return len(changed), sum(g for _, _, g in changed)


def _trigger_unread(store, models, progress=None) -> tuple[int, int, int] | None:
    """Show the indexed still images that have no OCR text to the faint-text trigger; read those it
    marks with the faint path and store what they read as their OCR rows. Returns (pictures
    shown, read again, gained text), or None when there are such pictures but this run has no
    OCR reader with a trigger, or no text encoder."""
    from ..errors import MediaError
    from ..types import Extracted
    from .embed import embed_pieces
    from .extract import ocr_piece

    images = next((t for t in (store.table("phash"), store.table("visual")) if t is not None), None)
    if images is None:
        return 0, 0, 0
    text = store.table("text")
    have = set() if text is None else {r["path"] for r in text.search().where("source = 'ocr'").select(["path"]).limit(None).to_list()}
    rows = [r for r in images.search().where("source = 'image' AND kind = 'image'")
            .select(["path", "sha256", "mtime", "kind", "batch"]).limit(None).to_list() if r["path"] not in have]
    if not rows:
        return 0, 0, 0
    ocr = models.ocr()
    if ocr is None or ocr.trigger is None or models.encoder("text") is None:
        return None
    shown, read, new = 0, 0, []
    for i, r in enumerate(rows):
        if progress:
            progress(i, len(rows), f"faint-text trigger: {r['path']}")
        try:
            img = _load(r["path"])
            shown += 1
            if not ocr.triggered(img):
                continue
            read += 1
            piece = ocr_piece(ocr, img)
        except (MediaError, OSError, ValueError):  # moved, deleted or unreadable since: left as stored
            continue
        if piece is not None:  # the text row a new index would store (embed_pieces: its vector without guesses)
            base = {k: r[k] for k in ("path", "sha256", "mtime", "kind", "batch")}
            new += [{**row, "id": f"{row['id']}:t"} for row in embed_pieces(Extracted([piece]), base, models)["text"]]
    if new:
        store.ensure_space("text", models.spec("text"))
        store.table("text").add(new)
    return shown, read, len(new)


def _words(text: str) -> set[str]:
    from ..encoders.wordsplit import GUESS

    return {w.lstrip(GUESS).lower() for w in text.split()}
