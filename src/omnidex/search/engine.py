"""Run a query against every applicable signal and fuse the answers into moments."""
from __future__ import annotations

import contextvars
import fnmatch
import os
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import IndexConfig, SearchConfig
from ..errors import OmnidexError, StoreMismatch
from ..spaces import Models
from ..store import Store, sql_str
from ..types import Hit
from .calibrate import background_stats, calibrate, fts_probability
from .context import with_file_context
from .moments import Candidate, merge_moments, snap_to_shots
from .rerank import POOL, default_reranker
from .rerank import apply as apply_reranker

KINDS = ("image", "video", "audio", "text", "series")
SOURCES = ("speech", "ocr", "frame", "chunk", "image", "series", "caption", "sound", "shot", "label")


class Searcher:
    """Answers text, image and audio queries over one store.

    Args:
        store: the open store.
        models: encoders; by default rebuilt from what each space was built with.
        whisper_model: the speech model for audio queries.
        runtimes: ``(("query", "onnx-int8"),)`` style choices of how query towers run (see
            :data:`omnidex.encoders.fastpath.RUNTIME_SPACES`); default: text queries through ONNX
            Runtime fp32 where it is installed.
    """

    def __init__(self, store: Store, models: Models | None = None, whisper_model: str = "tiny.en",
                 runtimes: tuple[tuple[str, str], ...] = ()):
        self.store = store
        self.models = models or Models(self.config_for(store, whisper_model, runtimes))
        self.last_query_text = ""
        self.last_explanation: dict | None = None  # how the last arithmetic query was combined
        self.query_files = True  # arithmetic text may name local files; network front ends turn this off
        self._warned: set[str] = set()  # spaces whose encoder no longer matches the table (warned once)
        self.reranker = default_reranker()  # second-stage rescoring of fused moments (None: fused scores stand)
        self.share_text = True  # one locked-tower pass per query text, shared by every space that reads it

    @staticmethod
    def config_for(store, whisper_model: str = "tiny.en", runtimes: tuple[tuple[str, str], ...] = ()) -> IndexConfig:
        """The query-side configuration of a store: the encoders each of its spaces was built with.

        Args:
            store: anything with ``space_spec(space)`` (a Store, a pinned snapshot of one).
            whisper_model: the speech model for audio queries.
            runtimes: query runtimes kept (ingest-only ones are dropped).
        """
        visual = store.space_spec("visual")
        text = store.space_spec("text")
        sound = store.space_spec("sound")
        video = store.space_spec("video")
        return IndexConfig(video_model=dict(video.kwargs).get("model") if video else None,
                           clip_model=dict(visual.kwargs).get("model") if visual else None,
                           text_encoder=text.name if text else "minilm", whisper_model=whisper_model,
                           sound=sound is not None, clap_model=dict(sound.kwargs).get("model") if sound else None,
                           runtimes=tuple(r for r in runtimes if r[0] == "query"))  # ingest-only runtimes dropped

    def search(self, text: str | None = None, image: str | Path | None = None,
               audio: str | Path | None = None, cfg: SearchConfig = SearchConfig(),
               video: str | Path | None = None, parts=None, series=None) -> list[Hit]:
        """Ranked moments for a text, image, audio or video-clip query.

        A ``video`` query finds where that clip occurs inside indexed videos (and near-duplicate
        videos); it is answered on its own, not fused with the other query kinds. An arithmetic
        ``text`` (``"zebra.jpg - 'stripes' + 'spots'"``) or weighted ``parts`` (see
        :mod:`omnidex.search.algebra`) are combined into one vector per space; how is kept in
        ``last_explanation``.

        Returns:
            At most ``cfg.top_k`` hits, best first.
        """
        for kind, query in (("video", video), ("series", series)):  # answered on their own, not fused
            if query is not None:
                return mark_confident(QUERY_KINDS[kind](self, query, cfg, _where(cfg)), cfg)
        memo = {} if getattr(self, "share_text", True) else None  # this search's tower outputs (per call, per thread)
        token = _TOWER_MEMO.set(memo)
        try:
            return self._search(text, image, audio, cfg, parts)
        finally:
            _TOWER_MEMO.reset(token)

    def _search(self, text, image, audio, cfg: SearchConfig, parts) -> list[Hit]:
        example, typed = None, text  # an audio query's samples, matched against indexed sound windows
        if audio is not None:
            example = self._sound_example(audio)
            spoken = self._transcribe(audio, required=example is None)
            text = (f"{text} {spoken}".strip() if text else spoken) or None
        from . import algebra

        terms = algebra.query_terms(text, parts, files=self.query_files)
        if not text and image is None and terms is None and example is None:
            raise OmnidexError("give a text query, --image FILE or --audio FILE")
        self.last_query_text = text or ""
        self.last_explanation = None
        where = _where(cfg)
        cands: list[Candidate] = []
        if terms is not None:
            cands, expl = algebra.candidates(self, terms, where, cfg)
            self.last_explanation = expl.to_dict()
            text = self.last_query_text = algebra.positive_text(terms)
        elif text:
            cands += self.text_signals(text, typed, where, cfg)
        if image is not None:
            cands += self.image_signals(_load_query_image(image), where, cfg)
        if example is not None:
            cands += self.vector_candidates("sound", "sound", lambda e: e.encode_audio([example])[0], where, cfg)
        cands = [c for c in cands if _glob_ok(c.row["path"], cfg.path_glob)]
        pool = replace(cfg, top_k=max(cfg.top_k, POOL)) if text else cfg  # rescored below, then cut
        hits = merge_moments(cands, pool, text or "")
        info = self.store.file_info(sorted({h.path for h in hits if h.unit == "s"}))
        hits = [snap_to_shots(h, info.get(h.path, {}).get("shots", []), cfg.max_moment_s) for h in hits]
        if text:  # what the rest of each file says: read by the reranker, else the context signal
            files = self.store.file_texts(sorted({h.path for h in hits}))
            hits = (apply_reranker(self.reranker, text, hits, files) if self.reranker is not None
                    else with_file_context(hits, text, files))
        at = confident_at(cfg, self._threshold(bool(text)))
        shown = mark_confident(_mark_generated([_as_shown(h) for h in hits[: cfg.top_k]], self.store), cfg, at)
        # a guess from a faint token is right about one time in three: a hit it alone found is weak,
        # its score held just under the threshold (confident hits stay first, as people expect)
        held = [replace(h, score=round(min(h.score, at - 1e-4), 4), confident=False)
                if h.confident and _found_by_guesses(h) else h for h in shown]
        return sorted(held, key=lambda h: -h.score) if held != shown else shown

    def text_signals(self, text: str, typed: str | None, where: str | None, cfg: SearchConfig) -> list[Candidate]:
        """Candidates of a text query from every space that reads text: sentences, pictures (gated),
        full text, query words spotted in faint pictures (:mod:`.spot`), described sounds (only for
        ``typed`` words, not a recording's transcript), shots of a video-text model and series
        windows (gated to shape talk)."""
        cands = self.vector_candidates("text", "text", lambda e: text_vector(e, text), where, cfg)
        cands += self.vector_candidates("clip", "visual", lambda e: text_vector(e, text), where, cfg, gated=True)
        cands += self.fts_candidates(text, where, cfg)
        if typed:
            cands += self.vector_candidates("sound", "sound", lambda e: text_vector(e, typed), where, cfg,
                                            gated=True)
        if "text" in getattr(self.encoder("video"), "modalities", ()):
            cands += self.vector_candidates("video", "video", lambda e: text_vector(e, text), where, cfg)
        from .series import text_candidates
        from .spot import spot_candidates, with_spotted

        cands += text_candidates(self.store, text, cfg, where)
        return with_spotted(cands, spot_candidates(self.store, text, where))

    def image_signals(self, img, where: str | None, cfg: SearchConfig) -> list[Candidate]:
        """Candidates of a picture query: the visual space, plus near-duplicates verified by keypoints
        (flips, crops, screenshots)."""
        visual = self.vector_candidates("clip", "visual", lambda e: e.encode_image([img])[0], where, cfg)
        from .neardup import image_candidates

        return visual + image_candidates(self, img, where, cfg, visual)

    def _threshold(self, has_text: bool) -> float:
        """The score a confident hit needs: the reranker's own calibrated threshold when it scored the
        hits (``confident_at`` in its config), else the fused scores' for text queries
        (:data:`FUSED_CONFIDENT_AT`), else an even chance (:data:`EXAMPLE_CONFIDENT_AT`)."""
        if not has_text:
            return EXAMPLE_CONFIDENT_AT
        if self.reranker is not None:
            return float(getattr(self.reranker, "config", {}).get("confident_at", RERANKED_CONFIDENT_AT))
        return FUSED_CONFIDENT_AT

    def encoder(self, space: str):
        """The query encoder of a vector space (None when the store has no such space or it is off).

        Raises:
            StoreMismatch: the loaded encoder is not the one the table was built with.
        """
        spec = self.store.space_spec(space)
        if spec is None:
            return None
        enc = self.models.encoder(space)
        if enc is not None and enc.identity != spec.identity:
            raise StoreMismatch(f"table '{space}' was built with {spec.identity}, but {enc.identity} is loaded")
        return enc

    def vector_candidates(self, signal: str, space: str, encode, where: str | None, cfg: SearchConfig,
                          gated: bool = False) -> list[Candidate]:
        """Candidates of one vector space, calibrated; a ``gated`` (text) query is weighted by how
        near it lies to what the space's encoder was trained on (:mod:`omnidex.search.domain`).

        Args:
            signal: the name the candidates carry ("text", "clip", "sound", ...).
            space: the vector space searched.
            encode: ``encoder -> query vector``.
            where: SQL prefilter.
            cfg: search options.
            gated: weight by the encoder's domain gate (text queries of visual/sound spaces).
        """
        try:
            enc = self.encoder(space)
        except StoreMismatch as exc:  # e.g. a bundled model was rebuilt since indexing: the other signals still answer
            if space not in self._warned:
                self._warned.add(space)
                print(f"omnidex: warning: {exc}; this signal is skipped until the files are re-indexed "
                      f"(omnidex index ... with the same --db)", file=sys.stderr)
            return []
        if enc is None:
            return []
        q = np.asarray(encode(enc), dtype=np.float32)
        weight = self._domain_weight(enc, q) if gated else 1.0
        if weight <= 0.0:  # the query is outside what this encoder knows: it has no say
            return []
        mean, sd = background_stats(q, self._background(space, enc, cfg))
        rows = self.store.vector_search(space, q, cfg.candidates, where)
        return [Candidate(signal, weight * calibrate(r["_sim"], mean, sd), r, weight) for r in rows]

    def _background(self, space: str, enc, cfg: SearchConfig) -> np.ndarray:
        """What a similarity is calibrated against: the encoder's fixed reference sample (stable as
        the library grows), or a sample of the library itself (``cfg.calibration == "library"``)."""
        if cfg.calibration == "reference":
            from .reference import reference_for

            ref = reference_for(space, enc)
            if ref is not None:
                return ref
        return self.store.background(space)

    def _domain_weight(self, enc, q: np.ndarray) -> float:
        from .domain import gate_for

        gate = gate_for(enc)
        return 1.0 if gate is None else gate.weight(q)

    def fts_candidates(self, text: str, where: str | None, cfg: SearchConfig) -> list[Candidate]:
        """Full-text candidates of ``text`` (plain words only), scored as probabilities."""
        rows = self.store.fts_search(_fts_query(text), cfg.candidates, where)
        out = [Candidate("fts", fts_probability(text, r["text"]), r) for r in rows]
        return [c for c in out if c.p > 0]

    def _transcribe(self, audio, required: bool = True) -> str:
        """What is said in a query recording; "" when nothing is and ``required`` is False."""
        from ..media.audio import load_audio

        tr = self.models.transcriber()
        if tr is None:
            if not required:
                return ""
            raise OmnidexError("an audio query needs the speech extra: " + "; ".join(self.models.notices))
        transcript = tr.transcribe(load_audio(audio, sr=16000))
        spoken = " ".join(s.text.strip() for s in transcript.segments).strip()
        if not spoken and required:
            raise OmnidexError(f"{audio}: no speech found in the query audio")
        return spoken

    def _sound_example(self, audio):
        """A query recording's samples at the sound encoder's rate, or None when no sound space exists."""
        enc = self.encoder("sound")
        if enc is None:
            return None
        from ..media.audio import load_audio

        return load_audio(audio, sr=enc.sample_rate)


# ----- one locked-tower pass per query text ------------------------------------------------------------
# The text space's MiniLM and the text towers of the in-house LiT models (pictures, sounds) are one frozen
# MiniLM: a text query used to run it once per space. Within one search (``Searcher.search``) the tower's
# output for a text is computed once and every space reads it, giving exactly the vectors each encoder's
# own ``encode_text`` gives (a LiT encoder normalises the tower's rows again, so that step is kept).
# The memo lives for one search call only: nothing is carried from one request to the next.
_TOWER_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("omnidex_tower_memo", default=None)
LOCKED_TEXT_ENCODERS = frozenset({"lit", "audio-lit"})  # encode_text = l2_normalise(locked MiniLM tower rows)
_TOWER_LOCK = threading.Lock()  # a torch tower (no ONNX Runtime) is called one thread at a time


def locked_tower(enc):
    """``(tower, renormalise)`` for an encoder whose text side is the frozen MiniLM tower: the tower
    itself for MiniLM (its rows as they are), the locked tower for a LiT/audio-LiT encoder (its rows
    normalised once more, as that encoder does); None for any other encoder."""
    name = getattr(enc, "name", None)
    if name == "minilm":
        return enc, False
    if name in LOCKED_TEXT_ENCODERS and getattr(enc, "text_model", None):
        from ..encoders.lit import locked_text

        return locked_text(enc.text_model), True
    return None


def text_vector(enc, text: str) -> np.ndarray:
    """The query vector of ``text`` in ``enc``'s space, equal to ``enc.encode_text([text])[0]``.

    Inside a search, encoders sharing the frozen MiniLM tower share one pass of it (keyed by the
    tower's identity and runtime and the text); outside one, or for other encoders, it is that call.
    """
    memo = _TOWER_MEMO.get()
    found = locked_tower(enc) if memo is not None else None
    if found is None:
        return enc.encode_text([text])[0]
    tower, renormalise = found
    key = (getattr(tower, "identity", None), str(getattr(tower, "runtime", "")), text)
    rows = memo.get(key)
    if rows is None:
        if tower is enc or str(getattr(tower, "runtime", "")).startswith("onnx"):
            rows = enc.encode_text([text]) if tower is enc else tower.encode_text([text])  # ONNX: thread-safe
        else:
            with _TOWER_LOCK:
                rows = tower.encode_text([text])
        memo[key] = rows
    if renormalise:
        from ..encoders.base import l2_normalise

        rows = l2_normalise(rows)
    return rows[0]


def _clip_query(searcher: Searcher, clip, cfg: SearchConfig, where: str | None) -> list[Hit]:
    """Where a video clip occurs inside indexed videos (and near-duplicate videos)."""
    from .video_query import find_clip

    return find_clip(searcher.store, clip, cfg, where, searcher.encoder("phash"))


def _series_query(searcher: Searcher, series, cfg: SearchConfig, where: str | None) -> list[Hit]:
    """Windows shaped like an example series (FILE[:COLUMN[:START:END]] or an array)."""
    from .series import search_by_example

    return search_by_example(searcher.store, series, cfg, where)


# query kind -> handler ``(searcher, query, cfg, where) -> hits`` of the kinds answered on their own
# (text, image and audio queries are fused: ``Searcher.search``); a new kind is one entry here
QUERY_KINDS = {"video": _clip_query, "series": _series_query}


# thresholds chosen for balanced abstention accuracy on the development seed of bench/relevance (seed 1)
FUSED_CONFIDENT_AT = 0.95  # noisy-OR scores saturate near 1 (0.99 was best on the dev seed, balanced 0.70; 0.95: 0.64)
EXAMPLE_CONFIDENT_AT = 0.5  # queries by example only (a picture, a sound): not tuned on a benchmark yet
RERANKED_CONFIDENT_AT = 0.7  # a reranker whose config names no confident_at (the bundled one names 0.7)


def confident_at(cfg: SearchConfig, default: float = FUSED_CONFIDENT_AT) -> float:
    """The score a confident hit needs: ``cfg.confident_at`` when set, else ``default`` (the
    calibrated threshold of whatever scored the hits)."""
    return cfg.confident_at if cfg.confident_at is not None else default


def mark_confident(hits: list[Hit], cfg: SearchConfig, default: float = FUSED_CONFIDENT_AT) -> list[Hit]:
    """Flag the hits whose score clears the threshold (:func:`confident_at`)."""
    at = confident_at(cfg, default)
    return [replace(h, confident=bool(h.score >= at)) for h in hits]


def _as_shown(hit: Hit) -> Hit:
    """A hit as people see it: on-screen words as read, without the split-word stream that the
    full-text index and the reranker use (``PARKINGPERMIT`` shown, ``parking permit`` matched).
    Query words that matched only in that stream are named: read in another view (``RODN`` shown,
    ``rottnest`` matched) in ``Hit.also_read``, guessed from faint letters (``~vendors``) in
    ``Hit.guessed``, so a hit never shows words that do not say why it was found."""
    from ..encoders.wordsplit import original_text, read_and_guessed

    shown = original_text(hit.evidence)
    if shown == hit.evidence:
        return hit
    low = shown.lower()
    read, guessed = read_and_guessed(hit.evidence)
    read, guesses = read.lower(), set(guessed.lower().split())
    elsewhere = [w for w in hit.matched_words if w.lower() not in low]
    guess_only = tuple(w for w in elsewhere if w.lower() in guesses and w.lower() not in read)
    return replace(hit, evidence=shown, matched_words=tuple(w for w in hit.matched_words if w.lower() in low),
                   also_read=tuple(w for w in elsewhere if w not in guess_only), guessed=guess_only)


def _found_by_guesses(hit: Hit) -> bool:
    """Whether only words OCR guessed from faint tokens tie a hit (as shown: :func:`_as_shown`) to
    the query: it matched nothing read (``Hit.guessed`` only) and no signal but the text ones (full
    text, sentence vectors, the file's other words, words spotted in faint boxes:
    :mod:`.spot`) found it."""
    weak = {"fts", "text", "context", "spot"}
    if "spot" in hit.signals and "fts" not in hit.signals and not set(hit.signals) - weak:
        return True  # full text found none of the query's words there: only spotted ones tie it
    return bool(hit.guessed) and not hit.matched_words and not hit.also_read and not set(hit.signals) - weak


def _mark_generated(hits: list[Hit], store) -> list[Hit]:
    """Image hits whose file was generated (its ingest info holds the provenance) carry it in
    ``Hit.generated``; one look-up of the files table, only when there are image hits."""
    paths = sorted({h.path for h in hits if h.modality == "image"})
    if not paths:
        return hits
    info = store.file_info(paths)
    return [replace(h, generated=g) if (g := info.get(h.path, {}).get("generated")) else h for h in hits]


def _load_query_image(image):
    from ..media.image import load_image

    return load_image(image)


def _fts_query(text: str) -> str:
    """Plain words only: query syntax characters from users never reach the FTS parser."""
    import re

    return " ".join(re.findall(r"[\w']+", text)).replace("'", " ")


def _where(cfg: SearchConfig) -> str | None:
    """SQL prefilter from the modality and path options, with every value quoted."""
    parts = []
    if cfg.modality:
        kinds = [m for m in cfg.modality if m in KINDS]
        sources = [m for m in cfg.modality if m in SOURCES and m not in KINDS]
        bad = [m for m in cfg.modality if m not in KINDS and m not in SOURCES]
        if bad:
            raise OmnidexError(f"unknown modality {bad}; choose from {list(KINDS) + list(SOURCES)}")
        ors = []
        if kinds:
            ors.append("kind IN (" + ", ".join(sql_str(k) for k in kinds) + ")")
        if sources:
            ors.append("source IN (" + ", ".join(sql_str(s) for s in sources) + ")")
        parts.append("(" + " OR ".join(ors) + ")")
    if cfg.in_path:
        parts.append(f"path = {sql_str(os.path.abspath(os.path.expanduser(cfg.in_path)))}")
    if cfg.path_glob:
        like = cfg.path_glob.replace("*", "%").replace("?", "_")
        parts.append(f"path LIKE {sql_str('%' + like.lstrip('%'))}")
    return " AND ".join(parts) or None


def _glob_ok(path: str, glob: str | None) -> bool:
    if not glob:
        return True
    return fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(path, "*/" + glob.lstrip("/")) \
        or fnmatch.fnmatch(path, "*" + glob)


__all__ = ["Searcher", "mark_confident"]
