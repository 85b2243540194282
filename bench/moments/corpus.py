"""A generated library of short 360p videos with exact ground truth for the moment benchmark.

Every video is made with :func:`omnidex.testing.mediagen.make_video` (coloured captioned scenes
with a moving circle, espeak-ng narration, optional quiet background music), some with one scene
replaced by an FFmpeg test pattern (``testsrc2``, ``smptebars``, ``mandelbrot``), some scenes on
moving backgrounds (mediagen's ``noise``/``bars``/``checker``) and, when the
installed ``Scene`` supports them, fades between scenes. Ground truth per video:

* ``boundaries``: every scene start after the first, with its transition type ("cut" or "fade");
* ``speech``: every narrated phrase with the real start/end of its audio (non-silent extent, as
  ``make_video`` measures it), its voice, its rate, and a PARAPHRASED search query;
* ``music``: spans of background music; ``patterns``: spans of moving backgrounds or test patterns.

The set is deterministic for ``(n_videos, seed, durations, phrases_per_video)`` and cached: a
``manifest.json`` records the parameters and a hash of the full specification, and generation is
skipped when both match and every file exists.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

CORPUS_VERSION = 1
SIZE = (640, 360)
FPS = 25

# (spoken phrase, paraphrased query): distinct, concrete, on different topics.
PHRASES: list[tuple[str, str]] = [
    ("the lighthouse keeper repaints the red door every spring", "who paints the lighthouse door each year"),
    ("our bakery sells fresh rye bread only on saturday mornings", "when can you buy rye loaves at the baker's shop"),
    ("the museum moved the dinosaur skeleton to the second floor", "the fossil display was relocated upstairs"),
    ("a strong storm knocked down three power lines near the river", "bad weather brought down electric cables by the water"),
    ("the chess club meets in the library basement on tuesdays", "where the chess group gathers every week"),
    ("she planted forty tomato seedlings in the greenhouse yesterday", "young tomato plants put into the glasshouse"),
    ("the train to the airport now leaves every fifteen minutes", "how often is there a rail connection to the airport"),
    ("the volcano on the island erupted twice last winter", "eruptions of the island volcano during the cold season"),
    ("the orchestra rehearses beethoven's fifth symphony before the concert", "musicians practising a beethoven piece ahead of the show"),
    ("the mechanic replaced the worn brake pads on the blue truck", "new brakes fitted on the blue lorry at the garage"),
    ("penguins huddle together to keep warm during antarctic blizzards", "how penguins stay warm in polar snowstorms"),
    ("the recipe needs two cups of flour and a pinch of salt", "how much flour and salt go into the dough"),
    ("the satellite sends weather photos back to earth every hour", "hourly weather pictures from a spacecraft in orbit"),
    ("the children built a snowman with a carrot nose in the park", "kids making a snow figure in the park"),
    ("the bridge will be closed for repairs until the end of june", "when does the bridge reopen after the maintenance work"),
    ("honey bees visit thousands of flowers to make a single jar of honey", "how many blossoms bees need to produce honey"),
    ("the goalkeeper saved a penalty in the final minute of the match", "keeper stops a penalty kick at the end of the game"),
    ("the old castle has a secret tunnel leading down to the harbor", "a hidden passage from the castle to the port"),
    ("the pharmacist warned me not to take the pills with coffee", "medicine should not be swallowed with coffee"),
    ("the new telescope can see galaxies billions of light years away", "observing very distant galaxies with a new instrument"),
    ("farmers harvest the wheat in late august before the rains", "when the grain crop is gathered in"),
    ("the jazz band played until two in the morning at the wedding", "musicians performed late into the night at the marriage party"),
    ("the dentist recommends brushing your teeth twice a day", "how often should you clean your teeth"),
    ("a family of otters lives under the wooden pier", "otters living beneath the dock"),
    ("the company will open a new factory in the northern city next year", "plans for a manufacturing plant up north"),
    ("the marathon route passes the cathedral and the old market", "the running race course goes past the church"),
    ("the pilot announced that we would land thirty minutes early", "the plane arrives ahead of schedule"),
    ("the gardener trims the hedges into the shape of elephants", "bushes clipped to look like elephants"),
    ("the library fines for late books have been cancelled", "no more penalties for overdue books"),
    ("the submarine dived to the bottom of the deep ocean trench", "an underwater vessel reaching the sea floor"),
    ("grandmother knits a woollen scarf for every grandchild at christmas", "knitted scarves as holiday gifts from granny"),
    ("the firefighters rescued a cat from the top of the oak tree", "a cat saved from a tree by the fire brigade"),
    ("the printer on the third floor is out of paper again", "the office printer upstairs has no paper left"),
    ("the astronauts grew lettuce on the space station", "growing salad vegetables in orbit"),
    ("the price of coffee beans rose sharply after the drought", "coffee got more expensive because of dry weather"),
    ("the violin was made in italy more than three hundred years ago", "an antique italian fiddle"),
    ("the hikers reached the summit just before sunset", "walkers got to the mountain top at dusk"),
    ("the surgeon finished the heart operation after six hours", "a long cardiac surgery"),
    ("the kite got stuck on the roof of the school", "a kite caught on top of the school building"),
    ("the fishermen caught a huge tuna off the coast this morning", "a giant fish landed at sea today"),
    ("the city council voted to plant a thousand new trees", "local government decides on tree planting"),
    ("the robot vacuum cleaner got trapped under the sofa", "the cleaning robot is stuck beneath the couch"),
    ("the ice cream shop has a new flavor made with lavender", "lavender dessert at the ice cream parlour"),
    ("the students dissected a frog in the biology lab", "frog dissection in science class"),
    ("the archaeologists found roman coins beneath the parking lot", "ancient money discovered under a car park"),
    ("the wind turbines produce enough power for the whole village", "windmills supply electricity to the town"),
    ("my neighbor's parrot can whistle the national anthem", "a bird that whistles the anthem next door"),
    ("the tailor shortened the sleeves of my wedding suit", "alterations to the arms of the suit"),
    ("the earthquake shook the windows but nobody was hurt", "a tremor rattled the glass and there were no injuries"),
    ("the zookeeper feeds the giraffes fresh leaves every morning", "giraffe breakfast at the zoo"),
    ("the carpenter built a wooden bookshelf for the classroom", "a timber shelf for books made for a school room"),
    ("the night market sells grilled squid and sweet pancakes", "street food at the evening bazaar"),
    ("the glacier has shrunk by half in the last fifty years", "the ice field melting away over decades"),
    ("the ferry to the island was cancelled because of fog", "boat trip called off due to mist"),
    ("the detective found a muddy footprint under the window", "an investigator discovers a dirty shoe print"),
    ("the choir sang carols on the steps of the town hall", "singers perform christmas songs outside the municipal building"),
    ("the laptop battery lasts about nine hours on a single charge", "how long the notebook computer runs unplugged"),
    ("the potter shapes clay bowls on a spinning wheel", "making ceramic dishes on a wheel"),
    ("the swimmers trained in the cold lake at dawn", "early morning swim practice in chilly water"),
    ("the pizza oven burns oak wood and reaches very high temperatures", "a wood fired oven gets extremely hot"),
    ("the bus driver waited for the old man to find his seat", "a driver patiently waiting for an elderly passenger"),
    ("the photographer captured a rainbow over the waterfall", "a picture of a rainbow above the falls"),
    ("the post office will stop delivering letters on sundays", "no more mail delivery at the weekend"),
    ("the baby elephant followed its mother to the watering hole", "a young elephant walking with its mom to drink"),
    ("the scientists measured the temperature of the hot spring", "researchers check how warm the thermal pool is"),
    ("the architect designed a house with a glass roof", "a home with a transparent ceiling"),
]

VOICES = ["en-us", "en-gb", "en-gb-x-rp", "en-us+f3", "en-gb-scotland", "en-us+m3", "en-029", "en-us+f2",
          "en-gb+m3", "en-us-nyc"]
PALETTE = [(200, 30, 30), (30, 150, 60), (30, 60, 200), (230, 200, 40), (120, 40, 160), (240, 240, 240),
           (20, 20, 20), (0, 170, 170), (240, 120, 20), (110, 70, 40), (250, 150, 190), (90, 110, 130)]
LABELS = ["PART", "CHAPTER", "SECTION", "STAGE", "ROOM", "TRACK", "CHANNEL", "LEVEL", "BLOCK", "GATE"]
LAVFI = ["testsrc2", "smptebars", "mandelbrot"]  # FFmpeg test sources overlaid on whole scenes
BACKGROUNDS = ["noise", "bars", "checker"]  # mediagen's moving scene backgrounds (when supported)
NO_SPEECH = {7: "music", 18: "none"}  # video index -> no narration: "music" only, or no audio stream


def _scene_fields() -> set[str]:
    """Field names of the installed mediagen Scene (fade_in/fade_out/pattern are newer)."""
    from omnidex.testing.mediagen import Scene

    return {f.name for f in dataclasses.fields(Scene)}


def _fades_supported() -> bool:
    """Whether the installed mediagen Scene has fade_in/fade_out fields."""
    return {"fade_in", "fade_out"} <= _scene_fields()


def _codec(i: int) -> tuple[str, str]:
    """(ffmpeg encoder, file suffix) of video ``i``: mostly H.264, some H.265 and VP9."""
    if i % 8 == 3:
        return "libx265", ".mp4"
    if i % 8 == 6:
        return "libvpx-vp9", ".webm"
    return "libx264", ".mp4"


def _phrase_seconds(text: str, voice: str, wpm: int, tmp: Path) -> float:
    """Length of the synthesized phrase in seconds (whole WAV, including espeak's padding)."""
    from omnidex.testing.mediagen import read_wav, speak

    wav, sr = read_wav(speak(text, tmp / "probe.wav", voice=voice, wpm=wpm))
    return len(wav) / sr


def _q(t: float) -> float:
    """Round to whole frames."""
    return round(t * FPS) / FPS


def _colors(rng, n: int) -> list[tuple]:
    """n palette colours, each different from the one before."""
    out: list[tuple] = []
    for _ in range(n):
        choices = [c for c in PALETTE if not out or c != out[-1]]
        out.append(tuple(int(v) for v in choices[int(rng.integers(len(choices)))]))
    return out


def video_spec(i: int, seed: int, durations: tuple[float, float], phrases_per_video: int,
               phrase_pool: list[tuple[str, str]], fades: bool, backgrounds: bool, tmp: Path) -> dict:
    """The full, JSON-ready specification of video ``i`` (consumes phrases from ``phrase_pool``)."""
    rng = np.random.default_rng([seed, i])
    codec, suffix = _codec(i)
    gop = [None, 12, 25, 50, 100, 250][int(rng.integers(6))]
    voice = VOICES[i % len(VOICES)]
    target = float(rng.uniform(*durations))
    kind = NO_SPEECH.get(i, "speech")
    narration, music = [], []
    t = float(rng.uniform(0.3, 2.5))
    if kind == "speech":
        long_gap = int(rng.integers(phrases_per_video)) if i % 4 == 2 else -1
        for k in range(phrases_per_video):
            if not phrase_pool:
                break
            text, query = phrase_pool.pop(0)
            v = VOICES[(i + 3 * k) % len(VOICES)] if i % 3 == 1 else voice  # some videos: several speakers
            wpm = int(rng.integers(130, 191))
            length = _phrase_seconds(text, v, wpm, tmp)
            narration.append({"at": round(t, 3), "text": text, "query": query, "voice": v, "wpm": wpm})
            gap = float(rng.uniform(7.0, 11.0)) if k == long_gap else float(rng.uniform(2.0, 5.0))
            if i % 5 == 4 and k == 0:  # music in the pause after the first phrase
                gap = max(gap, 6.0)
                music.append([round(t + length + 0.8, 3), round(t + length + gap - 0.8, 3)])
            t += length + gap
        t -= gap if narration else 0.0
    end_of_speech = t
    duration = _q(min(max(target, end_of_speech + float(rng.uniform(1.0, 3.0))),
                      max(durations[1], end_of_speech + 1.0)))
    if kind == "music":
        music = [[2.0, round(duration * 0.4, 3)], [round(duration * 0.55, 3), round(duration - 1.5, 3)]]
    elif i % 5 == 2 and narration:
        music = [[0.0, duration]]  # quiet background music under the whole narration
    # scenes: 2.5-8 s each, the last one absorbs the remainder
    lens: list[float] = []
    rest = duration
    while rest > 1e-6:
        d = _q(float(rng.uniform(2.5, 8.0)))
        d = _q(rest) if rest - d < 2.0 else d  # never leave a stub shorter than 2 s
        lens.append(d)
        rest = _q(rest - d)
    colors = _colors(rng, len(lens))
    label = LABELS[i % len(LABELS)]
    scenes = []
    for k, (d, c) in enumerate(zip(lens, colors)):
        caption = "" if rng.random() < 0.2 else f"{label} {k + 1}"
        scenes.append({"duration": d, "color": list(c), "text": caption, "fade_in": 0.0, "fade_out": 0.0,
                       "background": "plain", "lavfi": None})
    if i % 4 == 1 and len(scenes) >= 3:
        k = 1 + int(rng.integers(len(scenes) - 2))
        scenes[k]["lavfi"] = LAVFI[(i // 4) % len(LAVFI)]
        scenes[k]["text"] = ""
    if backgrounds and i % 3 == 2:
        for k in range(len(scenes)):
            if not scenes[k]["lavfi"] and rng.random() < 0.4:
                scenes[k]["background"] = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    if fades and i % 3 != 0:
        for k in range(1, len(scenes)):
            if scenes[k]["lavfi"] or scenes[k - 1]["lavfi"] or rng.random() >= 0.45:
                continue
            f = _q(float(rng.uniform(0.4, 1.0)))
            f = min(f, _q(scenes[k - 1]["duration"] / 3), _q(scenes[k]["duration"] / 3))
            scenes[k - 1]["fade_out"], scenes[k]["fade_in"] = f, f
    return {"index": i, "name": f"m{i:02d}{suffix}", "codec": codec, "gop": gop, "voice": voice,
            "duration": duration, "audio": kind != "none", "kind": kind, "scenes": scenes,
            "narration": narration, "music": music}


def corpus_spec(n_videos: int = 24, seed: int = 0, durations: tuple[float, float] = (20.0, 45.0),
                phrases_per_video: int = 3) -> list[dict]:
    """Specifications of every video (deterministic for the parameters and the espeak-ng build)."""
    pool = list(PHRASES)
    fades, backgrounds = _fades_supported(), "pattern" in _scene_fields()
    with tempfile.TemporaryDirectory(prefix="omnidex-moments-") as tmp:
        return [video_spec(i, seed, durations, phrases_per_video, pool, fades, backgrounds, Path(tmp))
                for i in range(n_videos)]


def _make_scenes(spec: dict) -> list:
    """mediagen Scenes for a spec (fade fields only where supported and used)."""
    from omnidex.testing.mediagen import Scene

    out = []
    for s in spec["scenes"]:
        kw = {}
        if s["fade_in"] or s["fade_out"]:
            kw.update(fade_in=s["fade_in"], fade_out=s["fade_out"])
        if s["background"] != "plain":
            kw["pattern"] = s["background"]
        out.append(Scene(s["duration"], tuple(s["color"]), s["text"], **kw))
    return out


def _overlay_patterns(stage: Path, out: Path, spec: dict, scene_spans: list) -> None:
    """Re-encode ``stage`` into ``out`` with FFmpeg test patterns over the pattern scenes."""
    from omnidex.testing.mediagen import _need, _run, _video_codec_args

    cmd = [_need("ffmpeg"), "-hide_banner", "-loglevel", "error", "-y", "-i", str(stage)]
    chain, last, n = [], "[0:v]", 0
    for s, (a, b, _) in zip(spec["scenes"], scene_spans):
        if not s["lavfi"]:
            continue
        n += 1
        cmd += ["-f", "lavfi", "-t", f"{b - a:.4f}", "-i", f"{s['lavfi']}=size={SIZE[0]}x{SIZE[1]}:rate={FPS}"]
        chain.append(f"[{n}:v]format=yuv420p,setpts=PTS-STARTPTS+{a:.4f}/TB[p{n}]")
        chain.append(f"{last}[p{n}]overlay=eof_action=pass:enable='between(t,{a - 0.001:.4f},{b - 0.02:.4f})'[v{n}]")
        last = f"[v{n}]"
    audio = ["-map", "0:a?", "-c:a", "copy"] if out.suffix == stage.suffix else ["-map", "0:a?", "-c:a", "libopus", "-b:a", "64k"]
    cmd += ["-filter_complex", ";".join(chain), "-map", last, *audio, "-c:v", spec["codec"],
            *_video_codec_args(spec["codec"], spec["gop"]), "-pix_fmt", "yuv420p", "-t", f"{spec['duration']:.4f}", str(out)]
    _run(cmd)


def make_one(spec: dict, out_dir: Path) -> dict:
    """Generate one video from its spec; return its ground-truth record."""
    from omnidex.testing.mediagen import Narration, make_video

    out = out_dir / spec["name"]
    narration = [Narration(n["at"], n["text"], voice=n["voice"], wpm=n["wpm"]) for n in spec["narration"]]
    patterned = any(s["lavfi"] for s in spec["scenes"])
    common = dict(scenes=_make_scenes(spec), narration=narration, size=SIZE, fps=FPS, audio=spec["audio"],
                  voice=spec["voice"], music=[tuple(m) for m in spec["music"]])
    with tempfile.TemporaryDirectory(prefix="omnidex-moments-") as tmp:
        if patterned:
            stage = Path(tmp) / ("stage" + (".mp4" if out.suffix == ".mp4" else ".webm"))
            codec = "libx264" if out.suffix == ".mp4" else "libvpx-vp9"
            made = make_video(stage, codec=codec, **common)
            _overlay_patterns(stage, out, spec, made["scenes"])
        else:
            made = make_video(out, codec=spec["codec"], gop=spec["gop"], **common)
    by_text = {}
    for s, e, text in made["speech"]:
        by_text.setdefault(text, (s, e))
    speech = []
    for n in spec["narration"]:
        if n["text"] not in by_text:
            raise RuntimeError(f"{spec['name']}: phrase not found in the generated track: {n['text']!r}")
        s, e = by_text[n["text"]]
        speech.append({"start": round(s, 3), "end": round(e, 3), "text": n["text"], "query": n["query"],
                       "voice": n["voice"], "wpm": n["wpm"]})
    scenes = [[round(a, 4), round(b, 4), sp["text"], sp["lavfi"] or sp["background"]]
              for (a, b, _), sp in zip(made["scenes"], spec["scenes"])]
    boundaries = []
    for k in range(1, len(scenes)):
        fade = spec["scenes"][k]["fade_in"] > 0 or spec["scenes"][k - 1]["fade_out"] > 0
        boundaries.append({"t": scenes[k][0], "type": "fade" if fade else "cut",
                           "fade_s": spec["scenes"][k]["fade_in"] if fade else 0.0})
    if "cuts" in made:  # mediagen's own account of the boundaries must agree
        theirs = [(round(t, 4), kind) for t, kind in made["cuts"]]
        if theirs != [(b["t"], b["type"]) for b in boundaries]:
            raise RuntimeError(f"{spec['name']}: boundary ground truth disagrees with mediagen: {theirs}")
    return {"name": spec["name"], "duration": made["duration"], "codec": spec["codec"], "gop": spec["gop"],
            "has_audio": spec["audio"], "kind": spec["kind"], "voices": sorted({n["voice"] for n in spec["narration"]}),
            "scenes": scenes, "boundaries": boundaries, "speech": speech, "music": spec["music"],
            "patterns": [[a, b, p] for a, b, _, p in scenes if p != "plain"]}


def build_corpus(out_dir: str | Path, n_videos: int = 24, seed: int = 0, *,
                 durations: tuple[float, float] = (20.0, 45.0), phrases_per_video: int = 3,
                 progress=None) -> list[dict]:
    """Generate (or reuse) the benchmark videos and their ground truth.

    Args:
        out_dir: folder for the videos and ``manifest.json``.
        n_videos: number of videos (the narrated phrases run out after about 24 narrated videos;
            later videos are then silent).
        seed: randomness of layouts, colours, GOPs, speeds.
        durations: (min, max) target length in seconds (a video grows past max only to fit its speech).
        phrases_per_video: narrated phrases per narrated video.
        progress: optional callable ``(done, total, name)``.
    Returns:
        One dict per video: {"file" (absolute path), "name", "duration", "codec", "gop", "has_audio",
        "kind", "voices", "scenes": [[start, end, caption, background]]
        (background "plain", "noise", "bars", "checker", or an FFmpeg source "testsrc2", ...), "boundaries":
        [{"t", "type": "cut"|"fade", "fade_s"}], "speech": [{"start", "end", "text", "query", "voice",
        "wpm"}], "music": [[start, end]], "patterns": [[start, end, name]]}.
    """
    out_dir = Path(out_dir)
    params = {"version": CORPUS_VERSION, "n_videos": n_videos, "seed": seed, "durations": list(durations),
              "phrases_per_video": phrases_per_video, "size": list(SIZE), "fps": FPS}
    specs = corpus_spec(n_videos, seed, tuple(durations), phrases_per_video)
    digest = hashlib.sha256(json.dumps([params, specs], sort_keys=True).encode()).hexdigest()[:16]
    manifest = out_dir / "manifest.json"
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text())
        except ValueError:
            old = {}
        if old.get("params") == params and old.get("spec_hash") == digest and all(
                (out_dir / v["name"]).exists() for v in old.get("videos", [])):
            return [dict(v, file=str((out_dir / v["name"]).resolve())) for v in old["videos"]]
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    videos = []
    for k, spec in enumerate(specs):
        videos.append(make_one(spec, out_dir))
        if progress:
            progress(k + 1, len(specs), spec["name"])
    manifest.write_text(json.dumps({"params": params, "spec_hash": digest, "videos": videos}, indent=1))
    return [dict(v, file=str((out_dir / v["name"]).resolve())) for v in videos]


def queries(videos: list[dict]) -> list[dict]:
    """Every paraphrased query with its ground truth: {"query", "phrase", "file", "name", "start", "end"}."""
    return [{"query": s["query"], "phrase": s["text"], "file": v["file"], "name": v["name"],
             "start": s["start"], "end": s["end"], "voice": s["voice"], "wpm": s["wpm"]}
            for v in videos for s in v["speech"]]


def describe(videos: list[dict]) -> dict:
    """Summary counts of a corpus."""
    codecs: dict[str, int] = {}
    for v in videos:
        codecs[v["codec"]] = codecs.get(v["codec"], 0) + 1
    bounds = [b for v in videos for b in v["boundaries"]]
    return {"videos": len(videos), "seconds": round(sum(v["duration"] for v in videos), 1),
            "min_s": round(min(v["duration"] for v in videos), 1), "max_s": round(max(v["duration"] for v in videos), 1),
            "codecs": codecs, "gops": sorted({str(v["gop"]) for v in videos}),
            "phrases": sum(len(v["speech"]) for v in videos),
            "voices": sorted({x for v in videos for x in v["voices"]}),
            "no_speech": [v["name"] for v in videos if not v["speech"]],
            "with_music": [v["name"] for v in videos if v["music"]],
            "with_patterns": [v["name"] for v in videos if v["patterns"]],
            "cuts": sum(b["type"] == "cut" for b in bounds), "fades": sum(b["type"] == "fade" for b in bounds)}


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    vids = build_corpus(sys.argv[1] if len(sys.argv) > 1 else "bench/results/moments/corpus")
    print(json.dumps(describe(vids), indent=1))
