"""Read text in images and video frames with RapidOCR's PP-OCRv4 models (det/rec ONNX, bundled,
offline), driven step by step so that the work fits the picture.

* **A gate.** Most photographs show no text. The detector first sees the picture at a reduced
  size (``gate_side``, 512 px: about a quarter of the pixels of the full-size pass); a picture on
  whose probability map no pixel reaches :data:`GATE_THRESH` costs that one pass. Where it finds
  text large enough to have been boxed reliably at that size, its boxes are used as they are;
  otherwise only the regions the map marked (grouped, widened, cut from the picture as given) get
  the full-size detection (``det_max_side``), not the whole picture (:meth:`OCR.gate`,
  :meth:`OCR.detect_regions`).
* **Recognition on the picture as given**, whatever size the boxes were found at: boxes are cut
  out padded by a fraction of their height and recognised in one batch per picture.
* **Faint text** (low opacity over a photograph, faint print): where a box's text barely stands out
  from its surroundings, or boxes were found but nothing read, the picture is read again in two
  contrast-normalised forms (CLAHE on the darkest channel, and on the inverted saturation: a
  light overlay pales a photograph's colours). Those readings go to the hidden word stream
  (:mod:`.wordsplit`), so a one-word search finds what any of them read, while people see the
  text as first read. Tokens of those readings that are no word are weighed against common words
  near them by the recogniser's own per-frame probabilities (:mod:`.ocr_lexicon`: ``VENDOPIS``
  -> vendors); the best one, when the picture supports it nearly as well as the reading, joins
  the hidden stream too.
"""
from __future__ import annotations

import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._require import require


@dataclass(frozen=True)
class OcrLine:
    """One detected line of text."""

    text: str  # recognised text
    score: float  # recognition confidence (0..1)
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the input image


def det_model(spec: str | None = None) -> tuple[Path | None, str]:
    """The text detector to use: (ONNX path, or None for RapidOCR's own PP-OCRv4 detector; a tag
    for the reader's identity).

    Args:
        spec: ``"ppocr"`` (RapidOCR's, the default) or the path of a DBNet ONNX file that takes
            and gives what PP-OCR's does (a 1x3xHxW picture scaled to [-1, 1], BGR; a 1x1xHxW
            text probability map), e.g. a later PP-OCR detector; None reads ``$OMNIDEX_OCR_DET``.
    Raises:
        FileNotFoundError: the path names no file.
    """
    spec = spec or os.environ.get("OMNIDEX_OCR_DET") or "ppocr"
    if spec == "ppocr":
        return None, "ppocrv4"
    path = Path(spec).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"OCR detector {spec!r}: no such ONNX file (give 'ppocr' or a path)")
    return path, f"det:{path.name}"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rapidocr-onnxruntime")
    except Exception:  # noqa: BLE001 - metadata missing: still a usable identity
        return "unknown"


def rows_of(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """Group lines into rows (vertical centres within half a line height), top to bottom,
    each row sorted left to right."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        centre, height = (line.box[1] + line.box[3]) / 2, line.box[3] - line.box[1]
        if rows:
            last = rows[-1]
            row_centre = sum((ln.box[1] + ln.box[3]) / 2 for ln in last) / len(last)
            if abs(centre - row_centre) < 0.5 * max(height, min(ln.box[3] - ln.box[1] for ln in last)):
                last.append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda ln: ln.box[0]) for row in rows]


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Sort lines top-to-bottom, and left-to-right within a row.

    Args:
        lines: lines in any order.
    Returns:
        The same lines in reading order.
    """
    return [ln for row in rows_of(lines) for ln in row]


def text_of(lines: list[OcrLine]) -> str:
    """Boxes of one row joined by spaces, rows by newlines."""
    return "\n".join(" ".join(ln.text for ln in row) for row in rows_of(lines))


GATE_THRESH = 0.3  # a gate's map pixel at least this probable marks a region that may hold text


@dataclass(frozen=True)
class Gate:
    """What the gate's detection found in one picture (all in the picture's pixels)."""

    quads: np.ndarray  # boxes found at the gate's size (N, 4, 2)
    regions: tuple  # bounds (x0, y0, x1, y1) of the map's text pixels, grouped and widened

    def __bool__(self) -> bool:
        return bool(len(self.quads) or self.regions)


def _bgr(image) -> np.ndarray:
    """PIL image (any mode) -> contiguous BGR uint8 array, as the PP-OCR models expect."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


class OCR:
    """Text reader; the ONNX sessions are created once, on first use.

    Args:
        min_score: lines recognised with lower confidence are dropped.
        threads: ONNX Runtime intra-op threads; 0 picks min(2, cores) (sized for a small machine).
            Idle threads sleep instead of spinning (see :func:`_rebuild_sessions`).
        det_max_side: the full-size detection sees pictures at most this large and never upscales
            them (RapidOCR's default scales the shorter side *up* to 736 px: about 5x slower on a
            384x216 video frame, and no more accurate).
        gate_side: the first detection sees pictures at most this large; 0 turns the gate off
            (every picture is detected at ``det_max_side``). 512 px kept the 640 px gate's recall
            on bench/ocr's libraries and words conditions at about half its cost.
        gate_px: text whose boxes are at least this many pixels high at the gate's size is read
            from the gate's boxes; smaller text found there gets the full-size detection.
        pad: boxes are widened by this fraction of their height on each side before recognition
            (and heightened by half of it).
        recheck_side: where the gate boxed large text but marked more that it could not box, the
            whole picture is detected again at this size (large text over a busy ground is found
            there, and not in a cut-out region).
        det: the text detector (:func:`det_model`): ``"ppocr"`` (default) or an ONNX file's path.
        faint: when :meth:`read_text_or_faint` reads a picture again for faint text (:data:`FAINT_MODES`):
            ``"auto"`` where the first reading looks faint or garbled, ``"all"`` on every picture
            (about 1.3 CPU-s more each, bench/ocr README; finds faint words over photographs that
            read nothing at first); None reads ``$OMNIDEX_OCR_FAINT``, else ``"auto"``.
        trigger: in ``"auto"`` mode, also run the faint path where the first reading read nothing
            and the trained faint-text trigger (:mod:`.ocr_trigger`, ~12 ms) marks faint word-like
            strokes; False: the first reading alone decides; None reads ``$OMNIDEX_OCR_TRIGGER``
            (``0`` turns it off), else on.
    Raises:
        ValueError: ``faint`` names no mode.
    """

    def __init__(self, min_score: float = 0.5, threads: int = 0, det_max_side: int = 960,
                 gate_side: int = 512, gate_px: int = 16, pad: float = 0.25, recheck_side: int = 640,
                 det: str | None = None, faint: str | None = None, trigger: bool | None = None):
        self.faint = faint or os.environ.get("OMNIDEX_OCR_FAINT") or "auto"
        if self.faint not in FAINT_MODES:
            raise ValueError(f"OCR faint-text mode {self.faint!r}: choose one of {', '.join(FAINT_MODES)}")
        self.min_score = min_score
        self.det_max_side = det_max_side
        self.gate_side = gate_side
        self.gate_px = gate_px
        self.recheck_side = recheck_side
        self.pad = pad
        self.threads = threads or min(2, os.cpu_count() or 1)
        self.det_path, det_tag = det_model(det)
        self.identity = f"rapidocr:{det_tag}@{_version()}"
        self._engine = None
        self._columns = None  # _prob_index
        if trigger is None:
            trigger = os.environ.get("OMNIDEX_OCR_TRIGGER", "1").strip().lower() not in ("0", "off", "false", "no")
        self._trigger = bool(trigger)  # True: the shipped trigger, loaded on first use (see .trigger)
        self._lock = threading.Lock()

    # -- the models -------------------------------------------------------------------------
    def _load(self):
        with self._lock:
            if self._engine is None:
                rapid = require("rapidocr_onnxruntime", "ocr")
                self._engine = rapid.RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1,
                                              det_limit_type="max", det_limit_side_len=self.det_max_side)
                self._engine.text_rec.rec_batch_num = 16
                if self.threads > 1 or self.det_path is not None:
                    _rebuild_sessions(self._engine, self.threads, self.det_path)
        return self._engine

    def _det_tensor(self, bgr: np.ndarray, side: int) -> np.ndarray:
        import cv2

        h, w = bgr.shape[:2]
        scale = min(1.0, side / max(h, w))
        nh, nw = max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32)
        x = cv2.resize(bgr, (nw, nh)) if (nh, nw) != (h, w) else bgr
        x = (x.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
        return x[None]

    def _boxes(self, prob: np.ndarray, shape: tuple[int, int], loose: bool = False) -> np.ndarray:
        """Probability map (H, W) of one picture -> quadrilaterals (N, 4, 2) in the picture's pixels
        (``loose``: lower thresholds and wider boxes, for faint text)."""
        det = self._engine.text_det
        post = self._loose_post if loose else det.postprocess_op
        boxes, _ = post(prob[None, None], shape)
        if len(boxes) == 0:
            return np.zeros((0, 4, 2), np.float32)
        return np.asarray(det.filter_tag_det_res(boxes, shape), np.float32).reshape(-1, 4, 2)

    @property
    def _loose_post(self):
        if getattr(self, "_loose", None) is None:
            from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

            self._loose = DBPostProcess(thresh=LOOSE[0], box_thresh=LOOSE[1], unclip_ratio=LOOSE[2], use_dilation=True)
        return self._loose

    def scan(self, images: list[np.ndarray], side: int) -> list[np.ndarray]:
        """The detector's text probability maps of BGR pictures, each seen at most ``side`` px
        (same-size pictures go through the network in one batch).

        Returns:
            Per picture, a map (H', W') at the size the detector saw it.
        """
        engine = self._load()
        out: list = [None] * len(images)
        groups: dict = {}
        for i, im in enumerate(images):
            groups.setdefault(im.shape, []).append(i)
        for shape, idx in groups.items():
            for k in range(0, len(idx), 8):
                part = idx[k:k + 8]
                batch = np.concatenate([self._det_tensor(images[i], side) for i in part])
                with self._lock:
                    probs = engine.text_det.infer(batch)[0]
                for j, i in enumerate(part):
                    out[i] = probs[j, 0]
        return out

    def detect(self, images: list[np.ndarray], side: int, loose: bool = False) -> list[np.ndarray]:
        """Text boxes of BGR pictures, the detector seeing each at most ``side`` px (same-size
        pictures go through the network in one batch).

        Returns:
            Per picture, quadrilaterals (N, 4, 2) in that picture's pixels.
        """
        return [self._boxes(m, im.shape[:2], loose) for m, im in zip(self.scan(images, side), images)]

    def gate(self, images: list[np.ndarray]) -> list[Gate]:
        """The gate's detection of BGR pictures at ``gate_side`` px (same-size pictures batched):
        per picture its boxes and the regions its probability map marks (:class:`Gate`, false
        when no map pixel reaches :data:`GATE_THRESH`: no text)."""
        out = []
        for prob, im in zip(self.scan(images, self.gate_side or self.det_max_side), images):
            mask = prob > GATE_THRESH
            if not mask.any():
                out.append(Gate(np.zeros((0, 4, 2), np.float32), ()))
                continue
            out.append(Gate(self._boxes(prob, im.shape[:2]), _regions(mask, im.shape[:2])))
        return out

    def detect_regions(self, bgr: np.ndarray, regions) -> np.ndarray:
        """Full-size detection of the given regions of a BGR picture only (each cut out and seen
        at the scale the whole picture would get at ``det_max_side``); the whole picture when
        the regions cover more than half of it.

        Returns:
            Quadrilaterals (N, 4, 2) in the picture's pixels.
        """
        h, w = bgr.shape[:2]
        if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in regions) > 0.5 * h * w:
            return self.detect([bgr], self.det_max_side)[0]
        scale = min(1.0, self.det_max_side / max(h, w))
        found = []
        for x0, y0, x1, y1 in regions:
            crop = np.ascontiguousarray(bgr[y0:y1, x0:x1])
            quads = self.detect([crop], max(32, int(round(max(crop.shape[:2]) * scale))))[0]
            if len(quads):
                found.append(quads + np.float32([x0, y0]))
        return np.concatenate(found) if found else np.zeros((0, 4, 2), np.float32)

    def _crop(self, bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
        """The box cut out straight (perspective warp), widened by ``pad`` x its height."""
        import cv2

        tl, tr, br, bl = quad
        width = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
        height = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
        if width < 1 or height < 1:
            return np.zeros((0, 0, 3), np.uint8)
        ux, uy = (tr - tl) / max(np.linalg.norm(tr - tl), 1e-6), (bl - tl) / max(np.linalg.norm(bl - tl), 1e-6)
        px, py = self.pad * height, 0.5 * self.pad * height
        src = np.float32([tl - px * ux - py * uy, tr + px * ux - py * uy, br + px * ux + py * uy, bl - px * ux + py * uy])
        cw, ch = int(round(width + 2 * px)), int(round(height + 2 * py))
        dst = np.float32([[0, 0], [cw, 0], [cw, ch], [0, ch]])
        crop = cv2.warpPerspective(bgr, cv2.getPerspectiveTransform(src, dst), (cw, ch),
                                   borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
        if ch >= 1.5 * cw:
            crop = np.rot90(crop)
        return np.ascontiguousarray(crop)

    def recognise(self, bgr: np.ndarray, quads: np.ndarray, probs: list | None = None) -> list[OcrLine]:
        """Recognise the text in each box of a BGR picture, in one batch.

        Args:
            probs: when a list, each box's per-frame log-probabilities over the columns of
                :meth:`prob_columns` are appended to it, in the boxes' order (None where nothing
                could be cut out): what :mod:`.ocr_lexicon` weighs candidate words against.
        Returns:
            One line per box, in the boxes' order (score 0 where nothing could be cut out),
            boxes as axis-aligned bounds.
        """
        if len(quads) == 0:
            return []
        crops = [self._crop(bgr, q) for q in quads]
        keep = [i for i, c in enumerate(crops) if c.size]
        texts = [("", 0.0)] * len(quads)
        kept_probs: list = [None] * len(quads)
        if keep:
            read, frames = self._rec([crops[i] for i in keep], probs is not None)
            for j, i in enumerate(keep):
                texts[i] = read[j]
                kept_probs[i] = frames[j]
        if probs is not None:
            probs.extend(kept_probs)
        return [OcrLine(str(t[0]), float(t[1]),
                        (float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())))
                for t, q in zip(texts, quads)]

    def strip_frames(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Per-frame log-probabilities over :meth:`prob_columns` of pictures handed to the recogniser
        as they are (no detection, no cut-out): what it reads across strips of a view."""
        crops = [c for c in crops if c.size]
        return self._rec(crops, True)[1] if crops else []

    def prob_columns(self) -> dict[str, int]:
        """Character -> column of the log-probabilities :meth:`recognise` hands out (the blank in
        column 0): letters, digits, the space and common punctuation of the recogniser's alphabet."""
        return self._prob_index()[0]

    def _prob_index(self) -> tuple[dict[str, int], np.ndarray]:
        """(:meth:`prob_columns`, the recogniser's output columns they are taken from), made once."""
        if self._columns is None:
            alphabet = self._load().text_rec.postprocess_op.character
            at = {c: i for i, c in enumerate(alphabet)}
            wanted = [c for c in PROB_CHARS if c in at]
            self._columns = ({c: j + 1 for j, c in enumerate(wanted)}, np.array([0] + [at[c] for c in wanted]))
        return self._columns

    def _rec(self, crops: list[np.ndarray], with_probs: bool) -> tuple[list, list]:
        """RapidOCR's recognition of crops, step by step as its TextRecognizer takes them (sorted by
        width, batched, each batch padded to its widest), so that the readings are RapidOCR's;
        and, when ``with_probs``, each crop's log-probabilities over :meth:`prob_columns`."""
        engine = self._load()
        rec = engine.text_rec
        cols = self._prob_index()[1] if with_probs else None
        order = np.argsort([c.shape[1] / float(c.shape[0]) for c in crops])
        read: list = [("", 0.0)] * len(crops)
        frames: list = [None] * len(crops)
        _, img_h, img_w = rec.rec_image_shape[:3]
        for b in range(0, len(crops), rec.rec_batch_num):
            part = order[b:b + rec.rec_batch_num]
            widest = max([img_w / img_h] + [crops[i].shape[1] / crops[i].shape[0] for i in part])
            batch = np.concatenate([rec.resize_norm_img(crops[i], widest)[None] for i in part]).astype(np.float32)
            with self._lock:  # no angle classifier: it turned padded upright crops upside down ("ANNHOC")
                preds = rec.session(batch)[0]
            for i, r, p in zip(part, rec.postprocess_op(preds), preds):
                read[i] = r
                if cols is not None:
                    frames[i] = np.log(np.maximum(p[:, cols], 1e-12)).astype(np.float32)
        return read, frames

    # -- reading ----------------------------------------------------------------------------
    def _gated(self, bgr: np.ndarray) -> bool:
        """Whether the gate saves work on this picture: it is at least 1.4x the gate's size (a
        smaller picture is detected at its own size, where its smallest text is still found: 16 px
        lowercase words on a 695 px picture of grass were lost at 512 px)."""
        return bool(self.gate_side) and min(max(bgr.shape[:2]), self.det_max_side) > self.gate_side * 1.4

    def _quads(self, bgr: np.ndarray, gate: bool, at_gate_size: Gate | None = None) -> np.ndarray:
        """Text boxes: gated (when on and the picture is larger than the gate), full size otherwise.
        ``at_gate_size``: the gate's findings (:meth:`gate`), when already made."""
        h, w = bgr.shape[:2]
        if not (gate and self._gated(bgr)):
            return self.detect([bgr], self.det_max_side)[0]
        found = self.gate([bgr])[0] if at_gate_size is None else at_gate_size
        if not found:
            return found.quads
        quads = found.quads
        if len(quads):
            at_gate = self.gate_side / max(h, w)
            heights = [min(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])) * at_gate for q in quads]
            if min(heights) >= self.gate_px:  # text large enough to be boxed reliably at the gate's size
                # and marked regions that no box covers (a line the gate saw but could not box)
                bounds = [(q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()) for q in quads]
                left = [r for r in found.regions if not any(_overlap(r, q) for q in bounds)]
                if not left:
                    return quads
                # large text the gate marked but could not box (over a busy ground): the detector
                # finds it with the picture's whole context around it, not in a cut-out region
                again = self.detect([bgr], self.recheck_side)[0]
                return again if len(again) >= len(quads) else quads
        # small text, or map pixels the gate could not box: the marked regions at full size
        return self.detect_regions(bgr, found.regions)

    def _read_bgr(self, bgr: np.ndarray, gate: bool, loose: bool = False,
                  at_gate_size: Gate | None = None) -> tuple[list[OcrLine], bool]:
        """(lines read, whether the text looks faint: a line was read whose ink barely stands out)."""
        if loose:
            quads = self.detect([bgr], self.det_max_side, loose=True)[0]
        else:
            quads = self._quads(bgr, gate, at_gate_size)
        if len(quads) == 0:
            return [], False
        lines = self.recognise(bgr, quads)
        read = [(ln, q) for ln, q in zip(lines, quads) if ln.score >= self.min_score and ln.text.strip()]
        # faint: a line was read where the ink barely stands out from its ground (boxes in which
        # nothing was read are mostly texture: another look at them costs much and finds little)
        faint = any(contrast(bgr, q) < FAINT_CONTRAST for ln, q in read if sum(c.isalnum() for c in ln.text) >= 2)
        return [ln for ln, _ in read], faint

    def read(self, image, gate: bool = True) -> list[OcrLine]:
        """Detect and recognise text lines.

        Args:
            image: PIL image (any mode).
            gate: detect at ``gate_side`` first (the picture is done when nothing is found there),
                and at full size only in the regions marked there, where the text found was small.
        Returns:
            Lines with score >= min_score, in reading order (top-to-bottom, left-to-right).
        """
        return reading_order(self._read_bgr(_bgr(image), gate)[0])

    def read_text(self, image, gate: bool = True) -> str:
        """All text of ``image`` as one string: boxes of one row joined by spaces, rows by newlines.

        Args:
            image: PIL image.
            gate: as in :meth:`read`.
        Returns:
            The text in reading order ("" when there is none).
        """
        return text_of(self.read(image, gate))

    def read_texts(self, images: list, gate: bool = True) -> list[str]:
        """:meth:`read_text` of many pictures (video frames): same-size pictures go through the
        gate's detection in batches.

        Args:
            images: PIL images.
            gate: as in :meth:`read`.
        Returns:
            One text per picture.
        """
        bgrs = [_bgr(im) for im in images]
        if not (gate and self.gate_side):
            return [text_of(self._read_bgr(b, False)[0]) for b in bgrs]
        gated = [i for i, b in enumerate(bgrs) if self._gated(b)]
        found = dict(zip(gated, self.gate([bgrs[i] for i in gated])))
        return [text_of(self._read_bgr(b, True, at_gate_size=found.get(i))[0])
                if i not in found or found[i] else "" for i, b in enumerate(bgrs)]

    def has_text(self, image) -> bool:
        """The gate's decision (:meth:`gate`): whether the detector, seeing the picture at
        ``gate_side`` px, marks any region as text. A picture larger than the gate that it does
        not mark is one :meth:`read` drops after that one detection. (It asked for a box before: a
        line the gate marked but could not box, over a busy ground, was "no text" here and yet
        read by :meth:`read`.)"""
        return bool(self.gate([_bgr(image)])[0])

    def first_reading(self, bgr: np.ndarray, gate: bool = True) -> tuple[list[OcrLine], bool]:
        """The first reading of a BGR picture, and whether :meth:`read_text_or_faint` follows it
        with the faint path: a line read looks faint, or what was read is no word
        (:func:`wordsplit.garbled`: letters of a faint word lost over a busy ground), or, in
        ``"auto"`` mode, nothing was read and the faint-text trigger (:mod:`.ocr_trigger`) marks
        faint word-like strokes."""
        first, again, _ = self._first_reading(bgr, gate)
        return first, again

    def _first_reading(self, bgr: np.ndarray, gate: bool) -> tuple[list[OcrLine], bool, np.ndarray | None]:
        """:meth:`first_reading`, and the trigger's heat map where it was consulted (else None)."""
        from .wordsplit import garbled

        first, faint = self._read_bgr(bgr, gate)
        if faint or garbled(text_of(first)):
            return first, True, None
        # nothing read: the trained trigger (ocr_trigger, ~12 ms) looks for faint word-like strokes.
        # (Where text was read, it also marks the edges of the signs around it: the faint path, ~1.4 s,
        # ran for nothing on 2 of the 24 text pictures of bench/ocr's speed libraries.)
        trigger = self.trigger if self.faint == "auto" and not first else None
        if trigger is None:
            return first, False, None
        heat = trigger.heat(bgr)
        return first, trigger.fires_on(heat), heat

    @property
    def trigger(self):
        """The faint-text trigger :meth:`first_reading` consults (:func:`.ocr_trigger.shipped`;
        None: off, where ``trigger=False`` was given or its model file or ONNX Runtime is missing)."""
        if self._trigger is True:
            from .ocr_trigger import shipped

            self._trigger = shipped()
        return self._trigger or None

    def triggered(self, image) -> bool:
        """Whether the faint-text trigger (:attr:`trigger`) marks faint word-like strokes anywhere
        in a PIL image (False when it is off): for pictures in which nothing was read."""
        return self.trigger is not None and self.trigger.fires(_bgr(image))

    def read_text_or_faint(self, image, gate: bool = True, spots: list | None = None) -> str:
        """:meth:`read_text`, and where the text looks faint (or what was read is no word:
        :func:`wordsplit.garbled`; :meth:`first_reading`), readings of contrast-normalised forms
        of the picture (:func:`.ocr_faint.faint_lines`: :func:`faint_views`, the band views and
        their stroke views, detected with looser thresholds, each box recognised in the view and
        in the picture as given) after
        :data:`wordsplit.SEPARATOR`: words they read that the first reading lacks, then, marked
        with :data:`wordsplit.GUESS`, common words the faint tokens may have been before letters
        were lost (:func:`wordsplit.repairs`) and the words the recogniser's own probabilities
        support (:func:`.ocr_lexicon.rescored`). The first reading stays what people see; the rest
        is for full-text search, which weighs the guesses less.

        Args:
            image: PIL image.
            gate: as in :meth:`read`.
            spots: when a list and the faint path runs, the folded per-frame log-probabilities
                of every box it recognised (:func:`.ocr_spot.fold`) are appended to it: what search
                spots a query word in (:mod:`.ocr_spot`).
        Returns:
            The text in reading order, perhaps followed by the other readings ("" when none is read).
        """
        from .ocr_faint import faint_lines
        from .ocr_spot import fold
        from .ocr_lexicon import rescored
        from .wordsplit import GUESS, SEPARATOR, repairs

        bgr = _bgr(image)
        first, look_again, heat = self._first_reading(bgr, gate)
        text = text_of(first)
        if not (look_again or self.faint == "all"):
            return text
        weighed: list = []  # (line as read, its per-frame log-probabilities), for the lexicon
        frames: list | None = [] if spots is not None else None
        # the regions the trigger marks are read across for spotting (over clutter the detector may box nothing there)
        marked = self.trigger.regions(bgr, heat=heat) if frames is not None and self.trigger is not None else None
        others = [faint_lines(self, bgr, faint_views(bgr), weighed, frames, marked)]
        if spots is not None:
            columns = self.prob_columns()
            spots.extend(fold(f, columns) for f in frames)
        seen = {w.lower() for w in text.split()}
        # each word once (a faint word is read alike in many views), in the order first read
        read = list(dict.fromkeys(w for lines in [first, *others] for ln in lines for w in ln.text.split()))
        extra = []
        for w in read:  # other readings
            if w.lower() not in seen:
                seen.add(w.lower())
                extra.append(w)
        if not text:  # nothing read at first ("all" mode, or the trigger): what the faint views read is the text,
            # but not lone glyphs (texture read as "O", "®", "中": most of what they read in plain photos)
            text, extra = " ".join(w for w in extra if len(re.sub(r"\W", "", w)) >= 3), []
        # guesses, marked as such: common words the faint tokens may have been (letters lost), and
        # the words the recogniser itself supports best (full-text search weighs them less)
        for x in [x for w in read for x in repairs(w)] + rescored(weighed, self.prob_columns()):
            if x.lower() not in seen:
                seen.add(x.lower())
                extra.append(GUESS + x)
        return f"{text}{SEPARATOR}{' '.join(extra)}" if text and extra else text


def _overlap(a, b) -> bool:
    """Whether two bounds (x0, y0, x1, y1) share some area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _regions(mask: np.ndarray, shape: tuple[int, int]) -> tuple:
    """Bounds (x0, y0, x1, y1) in a picture of ``shape`` of the marked pixels of a gate's map:
    neighbouring marks joined into lines, each widened by two line heights sideways and one up and
    down (at least 24 px: a mark may cover only part of a line's letters), overlapping bounds merged."""
    import cv2

    h, w = shape
    sy, sx = h / mask.shape[0], w / mask.shape[1]
    joined = cv2.dilate(mask.astype(np.uint8), np.ones((3, 7), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes = []
    for x, y, bw, bh, _ in stats[1:n]:
        line = bh * sy
        mx, my = max(24.0, 2.0 * line), max(24.0, line)
        boxes.append([max(0, int(x * sx - mx)), max(0, int(y * sy - my)),
                      min(w, int(math.ceil((x + bw) * sx + mx))), min(h, int(math.ceil((y + bh) * sy + my)))])
    merged = True
    while merged:  # merge until no two overlap
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if _overlap(a, b):
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return tuple(tuple(b) for b in boxes)


def _rebuild_sessions(engine, threads: int, det_path: Path | None = None) -> None:
    """Rebuild RapidOCR's detection and recognition sessions with omnidex's session options
    (:func:`.fastpath.session_options`: idle intra-op threads sleep instead of spinning).

    RapidOCR builds its sessions with spinning on. Beside other work (decoding, Whisper, CLIP,
    other processes) a second thread spinning on a 2-core machine cost about 2x the CPU and 2.3x
    the wall time of one thread for the same pictures; with spinning off, two threads cost what one
    does and use the second core when it is free. A session whose model path ONNX Runtime does not
    report is left as it was. ``det_path``: the detector's ONNX file to load instead of RapidOCR's.
    """
    import onnxruntime as ort

    from .fastpath import session_options

    for holder, attr in ((engine.text_det, "infer"), (engine.text_rec, "session")):
        wrapper = getattr(holder, attr, None)
        path = getattr(getattr(wrapper, "session", None), "_model_path", None)
        if holder is engine.text_det and det_path is not None:
            path = str(det_path)
        if not path:
            continue
        opts = session_options(ort, threads, log_level=4)
        opts.enable_cpu_mem_arena = False  # as RapidOCR builds them
        wrapper.session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


# characters whose probabilities the recogniser hands to the lexicon rescoring (ocr_lexicon)
PROB_CHARS = " " + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + ".,:;'\"!?&-/()#%$@+*="
FAINT_MODES = ("auto", "all")  # OCR(faint=...): the faint path where the first reading looks faint, or always
FAINT_CONTRAST = 80.0  # grey levels between a box's ink and its ground below which text is faint
LOOSE = (0.2, 0.35, 2.0)  # faint views: DB threshold, box threshold, unclip ratio (RapidOCR: 0.3, 0.5, 1.6)


def contrast(bgr: np.ndarray, quad: np.ndarray) -> float:
    """How much a text box's ink stands out: the grey-level gap between the medians of the two
    Otsu classes of the box's pixels."""
    import cv2

    x0, y0 = np.floor(quad.min(0)).astype(int)
    x1, y1 = np.ceil(quad.max(0)).astype(int)
    grey = cv2.cvtColor(bgr[max(0, y0):y1 + 1, max(0, x0):x1 + 1], cv2.COLOR_BGR2GRAY)
    if grey.size < 16:
        return 255.0
    t, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    lo, hi = grey[grey <= t], grey[grey > t]
    if lo.size == 0 or hi.size == 0:
        return 0.0
    return float(np.median(hi) - np.median(lo))


def faint_views(bgr: np.ndarray) -> list[np.ndarray]:
    """Two contrast-normalised forms of a BGR picture for faint text: CLAHE on the darkest channel,
    and CLAHE on the inverted saturation."""
    import cv2

    clahe = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(8, 8))
    sat = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)[:, :, 1]
    views = [clahe.apply(np.ascontiguousarray(bgr.min(axis=2))), clahe.apply(255 - sat)]
    return [np.ascontiguousarray(np.repeat(v[:, :, None], 3, axis=2)) for v in views]


def equalised(image):
    """Local contrast equalisation (CLAHE on the grey picture; a global autocontrast without OpenCV).

    Args:
        image: PIL image.
    Returns:
        An RGB PIL image in which faint strokes stand out.
    """
    pil = require("PIL.Image", "image")
    grey = image.convert("L")
    try:
        cv2 = require("cv2", "image")
    except Exception:  # noqa: BLE001 - OpenCV missing: Pillow's global stretch instead
        from PIL import ImageOps

        return ImageOps.autocontrast(grey, cutoff=1).convert("RGB")
    out = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(8, 8)).apply(np.asarray(grey))
    return pil.fromarray(out).convert("RGB")
