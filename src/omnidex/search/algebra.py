"""Arithmetic and weighted queries: ``zebra.jpg - 'stripes' + 'spots'`` or weighted parts.

A query is a list of :class:`Term` (a text or a media file, with a signed weight). In every vector
space whose encoder embeds all of the terms' modalities, each term is embedded with that space's
own encoder (images with ``encode_image``, texts with ``encode_text``), the weighted sum is
L2-normalised, and that one vector is searched in the space. The explanation records the terms,
the spaces used (and why others were skipped) and the cosine of the result vector to each term.

Expression grammar (whitespace separates tokens; ``+``/``-`` join terms)::

    expr   := [sign] term (sign term)*
    term   := [number '*'] atom ['*' number]
    atom   := 'quoted text' | "quoted text" | kind ':' (quoted | bare) | bare path
    kind   := text | image | audio | video

A bare token is a file path (backslash escapes a space: ``my\\ photo.jpg``); a quoted token is a
text unless prefixed (``image:'my photo.jpg'``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import OmnidexError

FILE_KINDS = ("image", "audio", "video")
KINDS = ("text",) + FILE_KINDS
SKIP_SPACES = ("phash",)  # bit-pattern hashes: sums of them mean nothing
SIGNAL_OF_SPACE = {"visual": "clip"}  # signal names the fusion already knows; other spaces use their own name
_TERM_END = ("quoted", "typed", "bare", "postweight")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class QuerySyntaxError(OmnidexError):
    """A malformed arithmetic query; the message shows where."""


@dataclass(frozen=True)
class Term:
    """One part of a query.

    Attributes:
        kind: "text", or the file kind ("image", "audio", "video").
        value: the text, or the file path.
        weight: signed weight (a ``-`` term has a negative weight).
    """

    kind: str
    value: str
    weight: float = 1.0

    def label(self) -> str:
        """Human form, e.g. ``-1*'stripes'`` or ``+0.3*image:a.jpg``."""
        shown = f"'{self.value}'" if self.kind == "text" else f"{self.kind}:{self.value}"
        return f"{self.weight:+g}*{shown}"


@dataclass
class Explanation:
    """How an arithmetic query was run: JSON-ready through :meth:`to_dict`."""

    terms: list[Term]
    spaces: dict[str, dict] = field(default_factory=dict)  # space -> {"encoder", "cosines": [...], "signal"}
    skipped: dict[str, str] = field(default_factory=dict)  # space -> why it was not used
    fts: dict = field(default_factory=dict)  # {"words": [...], "excluded": [...]} when full text ran

    def to_dict(self) -> dict:
        """Terms with weights, per space the cosine of the result vector to each term."""
        return {"terms": [{"kind": t.kind, "value": t.value, "weight": t.weight} for t in self.terms],
                "expression": " ".join(t.label() for t in self.terms),
                "spaces": self.spaces, "skipped": self.skipped, "fts": self.fts}


# ----------------------------------------------------------------------------- parsing

def parse(expr: str, base: str | Path | None = None, files: bool = True) -> list[Term]:
    """Parse an arithmetic query into terms.

    Args:
        expr: e.g. ``"zebra.jpg - 'stripes' + 0.5*'spots'"``.
        base: folder relative file paths are resolved against (default: the working directory).
        files: allow file terms; network front ends pass False so a query never reads server files.
    Returns:
        The terms in order, file paths made absolute.
    Raises:
        QuerySyntaxError: unbalanced quotes, a missing term or operator, a bad weight, a bare word
            that is not an existing file.
    """
    tokens = _tokenize(expr)
    terms: list[Term] = []
    i, sign = 0, 1.0
    if not tokens:
        raise QuerySyntaxError("empty query")
    if tokens[0][0] == "op":
        sign, i = (-1.0 if tokens[0][1] == "-" else 1.0), 1
    while True:
        term, i = _term(tokens, i, expr)
        if term.kind != "text" and not files:
            raise QuerySyntaxError(f"file terms are not allowed here ({term.value!r}): use quoted texts only")
        terms.append(Term(term.kind, _resolve(term, base), sign * term.weight))
        if i == len(tokens):
            return terms
        if tokens[i][0] != "op":
            raise QuerySyntaxError(f"expected + or - before {_show(tokens[i])} in {expr!r}")
        sign, i = (-1.0 if tokens[i][1] == "-" else 1.0), i + 1
        if i == len(tokens):
            raise QuerySyntaxError(f"{expr!r} ends with an operator: add a term after it")


def _term(tokens: list, i: int, expr: str) -> tuple[Term, int]:
    """One weighted atom starting at ``tokens[i]``; returns it and the next index."""
    weight = 1.0
    if i < len(tokens) and tokens[i][0] == "weight":
        weight, i = tokens[i][1], i + 1
    if i >= len(tokens) or tokens[i][0] not in ("quoted", "bare", "typed"):
        found = _show(tokens[i]) if i < len(tokens) else "the end"
        raise QuerySyntaxError(f"expected a quoted text or a file path, found {found} in {expr!r}")
    tok = tokens[i]
    i += 1
    if i < len(tokens) and tokens[i][0] == "postweight":
        weight, i = weight * tokens[i][1], i + 1
    if tok[0] == "quoted":
        return Term("text", tok[1], weight), i
    if tok[0] == "typed":
        return Term(tok[1], tok[2], weight), i
    return Term("file", tok[1], weight), i


def _show(tok) -> str:
    if tok[0] == "op":
        return f"operator {tok[1]!r}"
    if tok[0] in ("weight", "postweight"):
        return f"weight {tok[1]:g}"
    return repr(tok[-1])


def _tokenize(expr: str) -> list[tuple]:
    """Tokens: ("op", "+"|"-"), ("weight", w), ("postweight", w), ("quoted", s), ("typed", kind, s), ("bare", s)."""
    out: list[tuple] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c in "+-" and ((out and out[-1][0] in _TERM_END) or _weight_prefix(expr, i) is None):
            out.append(("op", c))  # after a term always an operator: "a - 0.5*'b'"
            i += 1
        elif c == "*" and out and out[-1][0] in ("quoted", "typed", "bare"):
            m = _NUMBER.match(expr, _skip_space(expr, i + 1))
            if not m:
                raise QuerySyntaxError(f"'*' at position {i} must be followed by a number in {expr!r}")
            out.append(("postweight", _weight(m.group(), expr)))
            i = m.end()
        elif (m := _weight_prefix(expr, i)) is not None:
            out.append(("weight", _weight(m[0], expr)))
            i = m[1]
        elif c in "'\"":
            text, i = _quoted(expr, i)
            out.append(("quoted", text))
        else:
            word, i = _bare(expr, i)
            out.append(_typed(word) if ":" in word and word.split(":", 1)[0].lower() in KINDS else ("bare", word))
            if out[-1][0] == "typed" and out[-1][2] == "" and i < n and expr[i] in "'\"":
                text, i = _quoted(expr, i)  # kind:'quoted value'
                out[-1] = ("typed", out[-1][1], text)
    return out


def _weight_prefix(expr: str, i: int):
    """(number text, index after the '*') when ``expr[i:]`` starts with ``number *``, else None."""
    m = _NUMBER.match(expr, i)
    if not m:
        return None
    j = _skip_space(expr, m.end())
    if j < len(expr) and expr[j] == "*":
        return m.group(), _skip_space(expr, j + 1)
    return None


def _skip_space(expr: str, i: int) -> int:
    while i < len(expr) and expr[i].isspace():
        i += 1
    return i


def _weight(text: str, expr: str) -> float:
    w = float(text)
    if not math.isfinite(w):
        raise QuerySyntaxError(f"weight {text!r} is not a finite number in {expr!r}")
    return w


def _quoted(expr: str, i: int) -> tuple[str, int]:
    """The text between matching quotes starting at ``i`` (backslash escapes the quote)."""
    q, j, buf = expr[i], i + 1, []
    while j < len(expr):
        if expr[j] == "\\" and j + 1 < len(expr):
            buf.append(expr[j + 1])
            j += 2
            continue
        if expr[j] == q:
            text = "".join(buf).strip()
            if not text:
                raise QuerySyntaxError(f"empty quoted text at position {i} in {expr!r}")
            return text, j + 1
        buf.append(expr[j])
        j += 1
    raise QuerySyntaxError(f"unbalanced quote {q} at position {i} in {expr!r}: close it")


def _bare(expr: str, i: int) -> tuple[str, int]:
    """A bare word up to whitespace (backslash escapes a space), stopping at a quote after ``kind:``."""
    buf = []
    while i < len(expr) and not expr[i].isspace():
        if expr[i] == "\\" and i + 1 < len(expr):
            buf.append(expr[i + 1])
            i += 2
            continue
        if expr[i] in "'\"" and "".join(buf).endswith(":"):
            break
        buf.append(expr[i])
        i += 1
    return "".join(buf), i


def _typed(word: str) -> tuple:
    kind, value = word.split(":", 1)
    return ("typed", kind.lower(), value)


def _resolve(term: Term, base) -> str:
    """Texts stay as they are; file terms must exist (made absolute) and their kind is sniffed."""
    if term.kind == "text":
        if not term.value.strip():
            raise QuerySyntaxError("a text term is empty")
        return term.value
    path = Path(term.value).expanduser()
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    if not path.is_file():
        hint = f"; put texts in quotes: '{term.value}'" if term.kind == "file" else ""
        raise QuerySyntaxError(f"{term.value}: no such file{hint}")
    return str(path.resolve())


def file_kind(path: str) -> str:
    """The media kind of a query file (image, audio, video) by content."""
    from ..media.sniff import sniff

    return sniff(path)


def finish(terms: list[Term]) -> list[Term]:
    """Give every file term its kind sniffed from the content (checking a declared one)."""
    out = []
    for t in terms:
        kind = t.kind
        if t.kind != "text":
            kind = file_kind(t.value)
            if kind not in FILE_KINDS:
                raise QuerySyntaxError(f"{t.value}: a {kind or 'unknown'} file cannot be a query term "
                                       f"(use {', '.join(FILE_KINDS)} files, or quote a text)")
            if t.kind not in ("file", kind):
                raise QuerySyntaxError(f"{t.value} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} file, not {t.kind}")
        out.append(Term(kind, t.value, t.weight))
    if not any(t.weight for t in out):
        raise QuerySyntaxError("every term has weight 0")
    return out


def looks_like_expression(text: str) -> bool:
    """Whether a query string is meant as arithmetic: it has a quoted or typed term and an operator
    or a weight (plain phrases such as ``the 'quarterly' results`` stay plain text)."""
    has_term = bool(re.search(r"(^|[\s+*-])(['\"]|(text|image|audio|video):\S)", text))
    has_op = bool(re.search(r"(^|\s)[+-](\s|['\"]|[\d.])|['\"]\s*[+-]|\*", text))
    return has_term and has_op


def parse_query(text: str, base=None, files: bool = True) -> list[Term] | None:
    """Terms when ``text`` is an arithmetic query, None when it is plain text.

    Raises:
        QuerySyntaxError: it looks like arithmetic but is malformed (or names a file when ``files`` is False).
    """
    if not looks_like_expression(text):
        return None
    return finish(parse(text, base, files))


def parse_part(spec: str, base=None) -> Term:
    """One ``--part KIND:VALUE[:WEIGHT]`` (e.g. ``text:a red car:0.7``, ``image:a.jpg:0.3``).

    The weight is whatever follows the last colon when it is a number; a text that itself ends
    in ``:number`` (``10:30``) needs an explicit weight after it.
    """
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in KINDS:
        raise QuerySyntaxError(f"--part {spec!r}: write KIND:VALUE[:WEIGHT] with KIND one of {', '.join(KINDS)}")
    value, weight = rest, 1.0
    head, sep, tail = rest.rpartition(":")
    if sep and _NUMBER.fullmatch(tail.strip() or "x"):
        value, weight = head, _weight(tail.strip(), spec)
    value = value.strip().strip("'\"") if kind == "text" else value.strip()
    if not value:
        raise QuerySyntaxError(f"--part {spec!r} has no value")
    term = Term(kind, value, weight)
    return finish([Term(kind, _resolve(term, base), weight)])[0]


def as_terms(parts, base=None) -> list[Term]:
    """Normalise API input: Terms, ``(kind, value[, weight])`` tuples or ``KIND:VALUE[:WEIGHT]`` strings."""
    out = []
    for p in parts:
        if isinstance(p, Term):
            out.append(finish([Term(p.kind, _resolve(p, base), p.weight)])[0])
        elif isinstance(p, str):
            out.append(parse_part(p, base))
        else:
            kind, value, *w = p
            if kind not in KINDS:
                raise QuerySyntaxError(f"query part kind {kind!r}: use one of {', '.join(KINDS)}")
            term = Term(kind, str(value), float(w[0]) if w else 1.0)
            out.append(finish([Term(kind, _resolve(term, base), term.weight)])[0])
    if not out:
        raise QuerySyntaxError("no query parts given")
    return out


# ----------------------------------------------------------------------------- vector maths

def combine(vectors: np.ndarray, weights) -> np.ndarray:
    """Weighted sum of unit vectors, L2-normalised.

    Args:
        vectors: (n, d) term embeddings.
        weights: n signed weights.
    Returns:
        float32 (d,) unit vector.
    Raises:
        OmnidexError: the weighted sum is (numerically) zero, e.g. ``'a' - 'a'``.
    """
    v = np.asarray(weights, np.float64) @ np.asarray(vectors, np.float64)
    norm = float(np.linalg.norm(v))
    if norm < 1e-6:
        raise OmnidexError("the terms cancel out: their weighted sum is the zero vector")
    return (v / norm).astype(np.float32)


def embed_terms(encoder, terms: list[Term]) -> np.ndarray:
    """Each term embedded by ``encoder`` (texts with encode_text, images with encode_image)."""
    from ..media.image import load_image

    rows = []
    for t in terms:
        if t.kind == "text":
            rows.append(encoder.encode_text([t.value])[0])
        elif t.kind == "image":
            rows.append(encoder.encode_image([load_image(t.value)])[0])
        elif t.kind == "audio":  # sound encoders take samples at their own rate
            from ..media.audio import load_audio

            rows.append(encoder.encode_audio([load_audio(t.value, sr=encoder.sample_rate)])[0])
        else:
            rows.append(encoder.encode_video([t.value])[0])
    return np.stack(rows).astype(np.float32)


def supports(encoder, terms: list[Term]) -> str:
    """"" when ``encoder`` embeds every term's modality, else why not."""
    missing = sorted({t.kind for t in terms} - set(getattr(encoder, "modalities", ())))
    return f"its encoder ({encoder.name}) does not embed {', '.join(missing)}" if missing else ""


def space_vectors(encoders: dict, terms: list[Term]) -> tuple[dict[str, np.ndarray], Explanation]:
    """The combined query vector of every space that can embed all the terms.

    Args:
        encoders: space -> encoder (None for spaces without one).
        terms: the query.
    Returns:
        (space -> unit query vector, the explanation with per-term cosines).
    """
    expl = Explanation(list(terms))
    out: dict[str, np.ndarray] = {}
    for space, enc in encoders.items():
        why = "near-duplicate hashes do not add up" if space in SKIP_SPACES else \
            ("no encoder loaded" if enc is None else supports(enc, terms))
        if why:
            expl.skipped[space] = why
            continue
        vecs = embed_terms(enc, terms)
        q = combine(vecs, [t.weight for t in terms])
        out[space] = q
        expl.spaces[space] = {"encoder": enc.identity, "signal": SIGNAL_OF_SPACE.get(space, space),
                              "cosines": [round(float(c), 4) for c in vecs @ q]}
    return out, expl


def fts_words(terms: list[Term]) -> tuple[str, list[str]]:
    """Full-text query from the positive text terms, minus words of the negative ones."""
    from .calibrate import terms as content_terms

    neg = {w for t in terms if t.kind == "text" and t.weight < 0 for w in content_terms(t.value)}
    pos = [w for t in terms if t.kind == "text" and t.weight > 0 for w in re.findall(r"[\w']+", t.value)]
    kept = [w for w in pos if not (ct := content_terms(w)) or ct[0] not in neg]
    return " ".join(dict.fromkeys(kept)), sorted(neg)


def positive_text(terms: list[Term]) -> str:
    """The positive text terms joined: what highlighted words are matched against."""
    return " ".join(t.value for t in terms if t.kind == "text" and t.weight > 0)


# ----------------------------------------------------------------------------- search

def query_terms(text: str | None, parts=None, files: bool = True) -> list[Term] | None:
    """The terms of a query: arithmetic ``text`` and/or weighted ``parts``; None for plain text.

    A plain ``text`` given with ``parts`` joins them as a text term of weight 1. With ``files``
    False, file terms in ``text`` are refused before any path is looked at.
    """
    terms = parse_query(text, files=files) if text else None
    if not parts:
        return terms
    extra = as_terms(parts)
    if terms is None and text:
        terms = [Term("text", text, 1.0)]
    return (terms or []) + extra


def _encoders(searcher) -> tuple[dict, dict[str, str]]:
    """space -> encoder for every space of the store; spaces whose encoder cannot be built say why."""
    encs, why = {}, {}
    for space in searcher.store.spaces():
        if space in SKIP_SPACES:
            encs[space] = None
            continue
        try:
            encs[space] = searcher.encoder(space)
        except (KeyError, OmnidexError) as exc:
            why[space] = f"encoder unavailable: {exc}"
    return encs, why


def candidates(searcher, terms: list[Term], where: str | None, cfg) -> tuple[list, Explanation]:
    """Per-space candidates of the combined vectors, plus full text over the positive text terms.

    Args:
        searcher: the :class:`~omnidex.search.engine.Searcher` (its stores, encoders, calibration).
        terms: the query terms.
        where: SQL prefilter.
        cfg: the search configuration.
    Returns:
        (candidates, explanation).
    Raises:
        OmnidexError: no space can embed the terms and there is no text to look up.
    """
    encoders, broken = _encoders(searcher)
    vectors, expl = space_vectors(encoders, terms)
    expl.skipped.update(broken)
    cands = []
    for space, q in vectors.items():
        cands += searcher.vector_candidates(SIGNAL_OF_SPACE.get(space, space), space, lambda e, q=q: q, where, cfg)
    words, excluded = fts_words(terms)
    if words:
        from .calibrate import term_coverage

        fts = [c for c in searcher.fts_candidates(words, where, cfg)
               if not excluded or term_coverage(" ".join(excluded), c.row["text"])[0] == 0]
        cands += fts
        expl.fts = {"words": words.split(), "excluded": excluded}
    if not vectors and not words:
        reasons = "; ".join(f"{s}: {w}" for s, w in expl.skipped.items()) or "the index is empty"
        kinds = ", ".join(sorted({t.kind for t in terms}))
        raise OmnidexError(f"no vector space can combine {kinds} terms ({reasons})")
    return cands, expl


def describe(expl: dict) -> str:
    """Plain-text explanation of an arithmetic query (what ``omnidex search`` prints above the hits)."""
    lines = [f"query: {expl['expression']}"]
    if expl.get("imagined"):  # search --imagine: the picture term was generated from the text
        from ..gen.provenance import summary

        prov = expl["imagined"]
        lines.append(f"  imagined picture of '{prov.get('prompt', '')}': {summary(prov)}"
                     + (" (cached)" if prov.get("cached") else ""))
    for space, info in expl["spaces"].items():
        cos = ", ".join(f"{t['weight']:+g}*{_short(t)}: {c:+.3f}" for t, c in zip(expl["terms"], info["cosines"]))
        lines.append(f"  {space} space ({info['encoder']}): cosine of the result to each term: {cos}")
    for space, why in expl["skipped"].items():
        lines.append(f"  {space} space not used: {why}")
    if expl.get("fts"):
        ex = expl["fts"]["excluded"]
        lines.append(f"  full text: {' '.join(expl['fts']['words'])}" + (f" (without: {', '.join(ex)})" if ex else ""))
    return "\n".join(lines)


def _short(term: dict) -> str:
    return f"'{term['value']}'" if term["kind"] == "text" else Path(term["value"]).name


__all__ = ["Term", "Explanation", "QuerySyntaxError", "parse", "parse_query", "parse_part", "as_terms",
           "combine", "space_vectors", "fts_words", "looks_like_expression", "query_terms", "candidates", "describe"]
