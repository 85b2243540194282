"""A generated library in topic families with graded relevance judgments (issue 14).

A *family* ("coast train") has sibling narrated videos whose narration and slides differ by one
fact, documents with the same vocabulary but different facts, and text-bearing posters; only one
member answers a specific query. Background files (silent videos, plain pictures, tones, neutral
documents) answer nothing. Every query carries graded judgments: 2 = the relevant file at the
exact moment (seconds for video/audio, lines for text, the whole file for images), 1 = the same
file at another moment, 0 = everything else. No-answer queries (near-topic or off-topic) have no
relevant file.

Use::

    man = build_library("out/", seed=1, size="small")      # renders media, cached by (seed, size)
    grade(man["queries"][0], hit.path, hit.start, hit.end)  # 0, 1 or 2
    extra = build_unrelated("out/", man, factor=2.0)        # other families + background

``plan_library`` gives the same manifest without writing media (needs only espeak-ng, to time
the narration). Manifest schema: see :func:`plan_library`.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import tempfile
from pathlib import Path

from . import library_vocab as V

LIBRARY_VERSION = 1
VIDEO_SIZE = (640, 360)
VIDEO_FPS = 15
WPM = 150
VOICE = "en-us"
LEAD_S = 0.4  # silence before a scene's narration
TAIL_S = 0.5  # silence after it, before the cut
SCREEN_S = 4.0  # length of a slide with no narration

# composition per size: families, and per family videos / documents / posters; background counts;
# queries per family per type; no-answer queries (near-topic per family, off-topic)
SIZES: dict[str, dict] = {
    "small": {"families": 3, "videos": 3, "docs": 3, "posters": 3,
              "background": {"image": 3, "doc": 2, "audio": 2, "video": 2},
              "per_family": {"fact": 1, "paraphrase": 1, "on-screen": 1, "document": 1, "image-text": 1},
              "near_topic": 1, "off_topic": 2},
    "full": {"families": 16, "videos": 4, "docs": 5, "posters": 4,
             "background": {"image": 30, "doc": 30, "audio": 18, "video": 18},
             "per_family": {"fact": 2, "paraphrase": 2, "on-screen": 2, "document": 2, "image-text": 2},
             "near_topic": 1, "off_topic": 10},
}
QUERY_TYPES = ("fact", "paraphrase", "on-screen", "document", "image-text", "no-answer")


# ------------------------------------------------------------------------------------ text helpers

def content_words(text: str) -> set[str]:
    """Lower-case content words of ``text`` (stopwords dropped, a plural 's' folded)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in words if w not in V.STOPWORDS}


def shared_content_words(a: str, b: str) -> set[str]:
    """Content words two texts have in common."""
    return content_words(a) & content_words(b)


def _speech_seconds(text: str, cache: dict) -> tuple[float, float]:
    """(first, last) audible instant of ``text`` spoken by espeak-ng, as make_video measures it."""
    if text not in cache:
        import numpy as np

        from .mediagen import SILENCE_THRESHOLD, read_wav, speak
        with tempfile.TemporaryDirectory(prefix="omnidex-library-") as tmp:
            wav, sr = read_wav(speak(text, Path(tmp) / "x.wav", voice=VOICE, wpm=WPM))
        loud = np.flatnonzero(np.abs(wav) > SILENCE_THRESHOLD)
        cache[text] = (float(loud[0]) / sr, float(loud[-1] + 1) / sr) if loud.size else (0.0, 0.0)
    return cache[text]


# ------------------------------------------------------------------------------------- file plans

def _frame_seconds(t: float) -> float:
    """Round a scene length to whole frames (make_video does the same)."""
    return max(1, round(t * VIDEO_FPS)) / VIDEO_FPS


def _video_plan(name: str, fam: dict, place: str, frame: int, screen: tuple, rng: random.Random,
                timing: dict) -> dict:
    """One sibling video: intro, spoken fact and on-screen fact (random order), maybe a closing."""
    s, title = fam["title"], fam["title"].upper()
    spoken = V.FRAMES[frame][0].format(s=s, v=place)
    sframe, value, with_title = screen
    slide = V.SCREEN_FRAMES[sframe][0 if with_title else 1].format(S=title, V=value)
    parts = [("intro", V.INTRO.format(s=s), title),
             ("spoken", spoken, title)]
    parts.insert(rng.choice([1, 2]), ("screen", "", slide))
    if rng.random() < 0.5:
        parts.append(("closing", V.CLOSING, ""))
    scenes, moments, t = [], [], 0.0
    for kind, said, caption in parts:
        if said:
            a, b = _speech_seconds(said, timing)
            dur = _frame_seconds(LEAD_S + b + TAIL_S)
            moments.append({"kind": kind, "start": round(t + LEAD_S + a, 3), "end": round(t + LEAD_S + b, 3),
                            "unit": "s", "text": said, "screen": caption, "at": round(t + LEAD_S, 3)})
        else:
            dur = _frame_seconds(SCREEN_S)
            moments.append({"kind": kind, "start": round(t, 3), "end": round(t + dur, 3), "unit": "s",
                            "text": "", "screen": caption})
        scenes.append({"start": round(t, 3), "end": round(t + dur, 3), "caption": caption,
                       "color": [rng.randrange(20, 236) for _ in range(3)]})
        t += dur
    return {"path": f"videos/{name}.mp4", "kind": "video", "family": fam["key"], "role": "member",
            "duration": round(t, 3), "scenes": scenes, "moments": moments,
            "facts": {"place": place, "frame": frame, "screen_frame": sframe, "screen_value": value,
                      "screen_title": with_title}}


def _doc_plan(name: str, fam: dict, values: dict, markdown: bool, rng: random.Random) -> dict:
    """One family document: an intro and three sections (shuffled), each holding one fact."""
    s = fam["title"]
    lines = [f"# {s.title()} notes" if markdown else f"{s.title()} notes", ""]
    lines += [" ".join(x.format(s=s) for x in V.DOC_INTRO), ""]
    order = list(V.DOC_SECTIONS)
    rng.shuffle(order)
    moments = []
    for key in order:
        heading, body, _ = V.DOC_SECTIONS[key]
        first = len(lines) + 1
        lines.append(f"## {heading}" if markdown else f"{heading}:")
        lines += [" ".join(x.format(s=s, v=values[key]) for x in body[:2]), " ".join(body[2:]), ""]
        text = "\n".join(lines[first - 1:-1])
        moments.append({"kind": key, "start": first, "end": len(lines) - 1, "unit": "line", "text": text})
    return {"path": f"docs/{name}.{'md' if markdown else 'txt'}", "kind": "document", "family": fam["key"],
            "role": "member", "body": "\n".join(lines), "moments": moments, "facts": dict(values)}


def _poster_plan(name: str, fam: dict, label: str, tight: bool, rng: random.Random) -> dict:
    """One family poster: the title and a two-word label, sometimes glued tight."""
    text = f"{fam['title'].upper()}\n{label}"
    return {"path": f"images/{name}.png", "kind": "image", "family": fam["key"], "role": "member",
            "text": text, "tight": tight, "moments": [{"kind": "poster", "start": 0, "end": 0, "unit": "none",
                                                        "text": text}],
            "bg": [rng.randrange(150, 256) for _ in range(3)], "facts": {"label": label}}


# ------------------------------------------------------------------------------- family and query

def _families(rng: random.Random, n: int, exclude: set[str] = frozenset()) -> list[dict]:
    """``n`` families drawn from the pool (titles in ``exclude`` left out)."""
    pool = [(t, p) for t, p in V.FAMILIES if t not in exclude]
    if n > len(pool):
        raise ValueError(f"asked for {n} families, only {len(pool)} available")
    return [{"key": t.replace(" ", "_"), "title": t, "paraphrase": p} for t, p in rng.sample(pool, n)]


def _family_files(fam: dict, comp: dict, rng: random.Random, timing: dict) -> list[dict]:
    """Sibling videos, documents and posters of one family, facts distinct between siblings."""
    nv, nd, npost = comp["videos"], comp["docs"], comp["posters"]
    places = rng.sample(V.PLACES, nv)
    animals = rng.sample(V.SCREEN_ANIMALS, nv)
    prices = rng.sample(range(12, 96), nv)
    files = []
    for i in range(nv):
        sframe = rng.randrange(len(V.SCREEN_FRAMES))
        value = animals[i] if sframe == 0 else str(prices[i])
        files.append(_video_plan(f"{fam['key']}_{i + 1}", fam, places[i], rng.randrange(len(V.FRAMES)),
                                 (sframe, value, rng.random() < 0.5), rng, timing))
    days, items, names = rng.sample(V.DAYS, nd), rng.sample(V.RARE_ITEMS, nd), rng.sample(V.NAMES, nd)
    for i in range(nd):
        values = {"schedule": days[i], "supplies": items[i], "contact": names[i]}
        files.append(_doc_plan(f"{fam['key']}_notes_{i + 1}", fam, values, rng.random() < 0.6, rng))
    for i, label in enumerate(rng.sample(V.POSTER_LABELS, npost)):
        files.append(_poster_plan(f"{fam['key']}_poster_{i + 1}", fam, label, rng.random() < 0.5, rng))
    return files


def _moment(f: dict, kind: str) -> dict:
    """The first moment of ``kind`` in file plan ``f``."""
    return next(m for m in f["moments"] if m["kind"] == kind)


def _answer_query(qtype: str, text: str, f: dict, m: dict, fam: dict) -> dict:
    """A query answered by moment ``m`` of file ``f``, with its graded judgments."""
    answer = {"path": f["path"], "start": m["start"], "end": m["end"], "unit": m["unit"],
              "text": " ".join(x for x in (m.get("text", ""), m.get("screen", "")) if x)}
    judgments = [{"path": f["path"], "grade": 2, "start": m["start"], "end": m["end"], "unit": m["unit"]}]
    if m["unit"] != "none":
        judgments.append({"path": f["path"], "grade": 1, "start": None, "end": None, "unit": m["unit"]})
    tags = [qtype] + (["title-elsewhere"] if qtype == "on-screen" and not f["facts"]["screen_title"] else [])
    return {"text": text, "type": qtype, "tags": tags, "family": fam["key"], "answer": answer,
            "judgments": judgments}


def family_queries(fam: dict, files: list[dict], want: dict, rng: random.Random) -> list[dict]:
    """Answerable queries of one family: fact, paraphrase, on-screen, document, image-text."""
    videos = [f for f in files if f["kind"] == "video"]
    docs = [f for f in files if f["kind"] == "document"]
    posters = [f for f in files if f["kind"] == "image"]
    spoken = rng.sample(videos, want["fact"] + want["paraphrase"])
    out = []
    for i, f in enumerate(spoken):
        qtype = "fact" if i < want["fact"] else "paraphrase"
        frame = V.FRAMES[f["facts"]["frame"]]
        text = (frame[2].format(s=fam["title"], v=f["facts"]["place"]) if qtype == "fact"
                else frame[1].format(p=fam["paraphrase"], v=f["facts"]["place"]))
        out.append(_answer_query(qtype, text, f, _moment(f, "spoken"), fam))
    for f in rng.sample(videos, want["on-screen"]):
        text = V.SCREEN_FRAMES[f["facts"]["screen_frame"]][2].format(s=fam["title"], v=f["facts"]["screen_value"].lower())
        out.append(_answer_query("on-screen", text, f, _moment(f, "screen"), fam))
    for f in rng.sample(docs, want["document"]):
        key = rng.choice(list(V.DOC_SECTIONS))
        text = V.DOC_SECTIONS[key][2].format(s=fam["title"], v=f["facts"][key])
        out.append(_answer_query("document", text, f, _moment(f, key), fam))
    for f in rng.sample(posters, want["image-text"]):
        text = rng.choice(V.POSTER_QUERIES).format(s=fam["title"], l=f["facts"]["label"].lower())
        out.append(_answer_query("image-text", text, f, _moment(f, "poster"), fam))
    return out


def near_topic(fam: dict, files: list[dict], rng: random.Random) -> dict:
    """A no-answer query in the family's vocabulary with a fact no member has."""
    used = {str(v).lower() for f in files for v in f["facts"].values()}
    kind = rng.choice(["spoken", "document", "poster", "screen"])
    s = fam["title"]
    if kind == "spoken":
        text = V.FRAMES[rng.randrange(len(V.FRAMES))][2].format(s=s, v=rng.choice([p for p in V.PLACES if p not in used]))
    elif kind == "document":
        text = V.DOC_SECTIONS["supplies"][2].format(s=s, v=rng.choice([x for x in V.RARE_ITEMS if x not in used]))
    elif kind == "poster":
        label = rng.choice([x for x in V.POSTER_LABELS if x.lower() not in used])
        text = V.POSTER_QUERIES[0].format(s=s, l=label.lower())
    else:
        animal = rng.choice([x for x in V.SCREEN_ANIMALS if x.lower() not in used])
        text = V.SCREEN_FRAMES[0][2].format(s=s, v=animal.lower())
    return {"text": text, "type": "no-answer", "tags": ["no-answer", "near-topic", f"near-{kind}"],
            "family": fam["key"], "answer": None, "judgments": []}


# ------------------------------------------------------------------------------------- background

def _background_plans(counts: dict, rng: random.Random, prefix: str = "bg") -> list[dict]:
    """Files that answer nothing: plain pictures, tones/music, neutral notes, silent videos."""
    out = []
    for i in range(counts.get("image", 0)):
        style = rng.choice(["shapes", "texture"])
        out.append({"path": f"background/{prefix}_picture_{i + 1}.{rng.choice(['png', 'jpg'])}", "kind": "image",
                    "family": None, "role": "background", "style": style, "seed": rng.randrange(1 << 30),
                    "moments": []})
    for i in range(counts.get("doc", 0)):
        paras = [" ".join(rng.sample(V.NEUTRAL_SENTENCES, rng.randint(2, 4))) for _ in range(rng.randint(2, 4))]
        out.append({"path": f"background/{prefix}_memo_{i + 1}.txt", "kind": "document", "family": None,
                    "role": "background", "body": "\n\n".join(paras) + "\n", "moments": []})
    for i in range(counts.get("audio", 0)):
        style = rng.choice(["tone", "tone", "music"])
        ext = "wav" if style == "music" else rng.choice(["wav", "mp3", "flac"])
        out.append({"path": f"background/{prefix}_sound_{i + 1}.{ext}", "kind": "audio", "family": None,
                    "role": "background", "style": style, "seconds": round(rng.uniform(4, 12), 1),
                    "freq": rng.choice([220, 330, 440, 550, 660, 880]), "moments": []})
    for i in range(counts.get("video", 0)):
        scenes, t = [], 0.0
        for _ in range(rng.randint(2, 3)):
            dur = _frame_seconds(rng.uniform(2.5, 4.5))
            scenes.append({"start": round(t, 3), "end": round(t + dur, 3), "caption": rng.choice(V.NEUTRAL_CAPTIONS),
                           "color": [rng.randrange(20, 236) for _ in range(3)]})
            t += dur
        out.append({"path": f"background/{prefix}_clip_{i + 1}.mp4", "kind": "video", "family": None,
                    "role": "background", "duration": round(t, 3), "scenes": scenes,
                    "music": rng.random() < 0.4, "moments": []})
    return out


def _off_topic(n: int, rng: random.Random) -> list[dict]:
    """No-answer queries about things no generated file mentions."""
    return [{"text": t, "type": "no-answer", "tags": ["no-answer", "off-topic"], "family": None,
             "answer": None, "judgments": []} for t in rng.sample(V.OFF_TOPIC, n)]


# ------------------------------------------------------------------------------------------- plan

def _rng(seed: int, size: str, salt: str = "") -> random.Random:
    """A generator seeded by (seed, size, salt), stable across Python runs."""
    return random.Random(int(hashlib.sha256(f"{seed}/{size}/{salt}".encode()).hexdigest()[:16], 16))


def plan_library(seed: int = 1, size: str = "full", timing: dict | None = None) -> dict:
    """The library's manifest, without writing media (espeak-ng times the narration).

    Args:
        seed: picks families, facts, orders and colours. Seed 2 is the benchmark's held-out seed.
        size: "small" (about 36 files, 20 queries) or "full" (about 300 files, 180 queries).
        timing: optional cache {phrase: (start, end)} of espeak timings shared between calls.
    Returns:
        {"version", "seed", "size", "spec_hash", "families": [{"key", "title", "paraphrase"}],
         "files": [{"path" (relative to the library root), "kind" (video|document|image|audio),
                    "family" (key or None), "role" (member|background|extra),
                    "moments": [{"kind", "start", "end", "unit" (s|line|none), "text", ...}], ...}],
         "queries": [{"id", "text", "type" (fact|paraphrase|on-screen|document|image-text|no-answer),
                      "tags", "family", "answer": {"path", "start", "end", "unit", "text"} or None,
                      "judgments": [{"path", "grade" (2|1), "start", "end", "unit"}]}]}.
        A grade-1 judgment (start None) stands for every other moment of the same file.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {', '.join(SIZES)}")
    comp, rng, timing = SIZES[size], _rng(seed, size), {} if timing is None else timing
    families = _families(rng, comp["families"])
    files, queries = [], []
    for fam in families:
        mine = _family_files(fam, comp, rng, timing)
        files += mine
        queries += family_queries(fam, mine, comp["per_family"], rng)
        queries += [near_topic(fam, mine, rng) for _ in range(comp["near_topic"])]
    files += _background_plans(comp["background"], rng)
    queries += _off_topic(comp["off_topic"], rng)
    for i, q in enumerate(queries):
        q["id"] = f"s{seed}q{i + 1:03d}"
    man = {"version": LIBRARY_VERSION, "seed": seed, "size": size, "families": families,
           "files": files, "queries": queries}
    man["spec_hash"] = hashlib.sha256(json.dumps(man, sort_keys=True).encode()).hexdigest()[:16]
    return man


def plan_unrelated(library: dict, factor: float = 2.0, timing: dict | None = None) -> dict:
    """Files unrelated to ``library``: the families it does not use, then background, until there
    are ``factor`` times as many files as in the library. Answers none of its queries.

    Returns:
        A manifest like :func:`plan_library`'s with no queries (every file's role is "extra").
    """
    seed, size = library["seed"], library["size"]
    comp, rng, timing = SIZES[size], _rng(seed, size, "unrelated"), {} if timing is None else timing
    used = {f["title"] for f in library["families"]}
    target = int(round(factor * len(library["files"])))
    families = _families(rng, len(V.FAMILIES) - len(used), used)
    files = []
    per_family = comp["videos"] + comp["docs"] + comp["posters"]
    for fam in families:
        if len(files) + per_family > target // 3:  # keep two thirds for background
            break
        files += _family_files(fam, comp, rng, timing)
    left = target - len(files)
    counts = {"image": left * 3 // 8, "doc": left * 3 // 8, "audio": left // 8}
    counts["video"] = left - sum(counts.values())
    files += _background_plans(counts, rng, prefix="extra")
    for f in files:
        f["role"] = "extra"
    man = {"version": LIBRARY_VERSION, "seed": seed, "size": size, "of": library["spec_hash"],
           "families": families[: len({f['family'] for f in files if f['family']})], "files": files, "queries": []}
    man["spec_hash"] = hashlib.sha256(json.dumps(man, sort_keys=True).encode()).hexdigest()[:16]
    return man


# ------------------------------------------------------------------------------------------ render

def _render_poster(f: dict, out: Path) -> None:
    """Title on top, label below; a "tight" label is drawn with almost no gap between its words."""
    from PIL import Image, ImageDraw

    from .mediagen import load_font

    image = Image.new("RGB", (640, 400), tuple(f["bg"]))
    draw = ImageDraw.Draw(image)
    title, label = f["text"].split("\n")
    for text, y, size, tight in ((title, 110, 46, False), (label, 220, 52, f["tight"])):
        font = load_font(size)
        words = text.split()
        gap = draw.textlength(" ", font=font) * (0.15 if tight else 1.0)
        width = sum(draw.textlength(w, font=font) for w in words) + gap * (len(words) - 1)
        x = (640 - width) / 2
        for w in words:
            draw.text((x, y), w, fill=(10, 10, 10), font=font)
            x += draw.textlength(w, font=font) + gap
    draw.rectangle((20, 20, 619, 379), outline=(10, 10, 10), width=6)
    image.save(out)


def _render_picture(f: dict, out: Path) -> None:
    """A picture with no text: coloured shapes, or a smooth random texture."""
    import numpy as np
    from PIL import Image

    from .mediagen import text_image

    rng = random.Random(f["seed"])
    if f["style"] == "shapes":
        shapes = []
        for _ in range(rng.randint(1, 4)):
            x, y, r = rng.randrange(40, 560), rng.randrange(40, 300), rng.randrange(30, 90)
            shapes.append((rng.choice(["circle", "rect", "triangle"]), (x, y, x + r, y + r),
                           tuple(rng.randrange(256) for _ in range(3))))
        image = text_image("", size=(640, 400), bg=tuple(rng.randrange(256) for _ in range(3)), shapes=shapes)
    else:
        gen = np.random.default_rng(f["seed"])
        small = gen.uniform(0, 255, (5, 8, 3)).astype(np.uint8)
        image = Image.fromarray(small).resize((640, 400), Image.BICUBIC)
    image.save(out)


def _render_video(f: dict, out: Path) -> None:
    """Encode a planned video and check that the narration lands where the plan says."""
    from .mediagen import Narration, Scene, make_video

    scenes = [Scene(s["end"] - s["start"], tuple(s["color"]), s["caption"]) for s in f["scenes"]]
    said = [m for m in f["moments"] if m["text"]]
    narration = [Narration(m["at"], m["text"], voice=VOICE, wpm=WPM) for m in said]
    music = [(0.0, f["duration"])] if f.get("music") else []
    truth = make_video(out, scenes, narration, size=VIDEO_SIZE, fps=VIDEO_FPS, music=music)
    for m, (a, b, _) in zip(said, truth["speech"]):
        if abs(a - m["start"]) > 0.05 or abs(b - m["end"]) > 0.05:
            raise RuntimeError(f"{out}: narration at {a:.2f}-{b:.2f} s, planned {m['start']}-{m['end']}")


def _render_audio(f: dict, out: Path) -> None:
    """A sine tone (any container) or the music-like arpeggio (WAV)."""
    from .mediagen import SPEECH_SR, make_tone, music_samples, write_wav

    if f["style"] == "music":
        write_wav(out, music_samples(f["seconds"]) * 6.0, SPEECH_SR)
    else:
        make_tone(out, f["seconds"], freq=f["freq"], amplitude=0.3)


def render_file(f: dict, root: Path) -> Path:
    """Write one planned file under ``root`` (parents created); returns its path."""
    out = Path(root) / f["path"]
    out.parent.mkdir(parents=True, exist_ok=True)
    if f["kind"] == "document":
        out.write_text(f["body"], encoding="utf-8")
    elif f["kind"] == "image":
        (_render_poster if f["role"] != "background" and "text" in f else _render_picture)(f, out)
    elif f["kind"] == "video":
        _render_video(f, out)
    else:
        _render_audio(f, out)
    return out


def _materialise(man: dict, root: Path, progress=None) -> dict:
    """Render every file of ``man`` under ``root`` unless a manifest with the same spec is there."""
    root = Path(root)
    stamp = root / "manifest.json"
    if stamp.exists():
        old = json.loads(stamp.read_text())
        if old.get("spec_hash") == man["spec_hash"] and all((root / f["path"]).exists() for f in man["files"]):
            return dict(old, root=str(root.resolve()))
        stamp.unlink()
    for k, f in enumerate(man["files"]):
        if progress:
            progress(k, len(man["files"]), f["path"])
        render_file(f, root)  # same spec, same bytes: a partial earlier run is simply overwritten
    if progress:
        progress(len(man["files"]), len(man["files"]), "")
    stamp.write_text(json.dumps(man, indent=1))
    return dict(man, root=str(root.resolve()))


def build_library(out_dir: str | Path, seed: int = 1, size: str = "full", progress=None) -> dict:
    """Plan and render the library under ``out_dir/<size>_seed<seed>/`` (cached by its spec).

    Args:
        out_dir: parent folder of the cached libraries.
        seed: see :func:`plan_library`.
        size: "small" or "full".
        progress: optional callable ``(done, total, path)``.
    Returns:
        The manifest of :func:`plan_library` plus "root" (absolute folder of its files).
    """
    man = plan_library(seed, size)
    return _materialise(man, Path(out_dir) / f"{size}_seed{seed}", progress)


def build_unrelated(out_dir: str | Path, library: dict, factor: float = 2.0, progress=None) -> dict:
    """Plan and render :func:`plan_unrelated` files under ``out_dir/<size>_seed<seed>_extra/``.

    Returns:
        Its manifest plus "root".
    """
    man = plan_unrelated(library, factor)
    return _materialise(man, Path(out_dir) / f"{library['size']}_seed{library['seed']}_extra", progress)


# ------------------------------------------------------------------------------------------ judge

def file_text(f: dict) -> str:
    """Every word a planned file holds: narration, slides, document body, poster text."""
    parts = [m.get("text", "") for m in f.get("moments", [])]
    parts += [s["caption"] for s in f.get("scenes", [])]
    parts += [f.get("body", ""), f.get("text", "")]
    return "\n".join(p for p in parts if p)


def load_manifest(root: str | Path) -> dict:
    """The manifest of a built library folder (``root`` set to that folder)."""
    root = Path(root)
    return dict(json.loads((root / "manifest.json").read_text()), root=str(root.resolve()))


def file_path(manifest: dict, rel: str) -> str:
    """Absolute path of a manifest file (its "path" is relative to the manifest's root)."""
    return str(Path(manifest["root"]) / rel)


def grade(query: dict, path: str, start: float = 0.0, end: float = 0.0, root: str | None = None) -> int:
    """Graded relevance of a hit: 2 at the exact moment, 1 elsewhere in the right file, else 0.

    Args:
        query: a manifest query.
        path: the hit's file (absolute, or relative to the library root).
        start, end: the hit's span (seconds, or lines for text; ignored for images).
        root: the library root, to compare absolute paths.
    Returns:
        0, 1 or 2.
    """
    if not query.get("answer"):
        return 0
    want = query["answer"]
    if not _same_path(path, want["path"], root):
        return 0
    if want["unit"] == "none":
        return 2
    return 2 if start <= want["end"] and want["start"] <= end else 1


def _same_path(path: str, rel: str, root: str | None) -> bool:
    """Whether ``path`` names the manifest file ``rel``."""
    import os

    if root is None:
        return Path(path).as_posix().endswith("/" + rel) or Path(path).as_posix() == rel
    return os.path.realpath(path) == os.path.realpath(os.path.join(root, rel))
