"""``make demo``: build a small mixed corpus, index it, and query it in every modality.

Run: ``python -m omnidex.demo --out demo-data``. Everything is generated locally (espeak-ng
narration, rendered text, ffmpeg videos), so it works with no network at all.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

NARRATION = [
    (1.0, "Welcome to the omnidex demo video."),
    (6.0, "Our quarterly results show that revenue grew by twenty percent."),
    (13.0, "Next, the team will talk about the new solar panels on the roof."),
]
DOCS = {
    "recipes/bread.md": "# Sourdough bread\n\nMix flour, water and salt. Let the dough rise overnight,\n"
                        "then bake it in a hot oven until the crust is dark brown.\n",
    "notes/travel.txt": "Packing list for the mountain hike: boots, a rain jacket, a map, water and snacks.\n"
                        "The trail starts at the lake and climbs to the old fire tower.\n",
    "notes/meeting.md": "# Budget meeting\n\nWe agreed to move the marketing budget to next year and to hire\n"
                        "two engineers for the search team.\n",
}


def write_docs(folder: Path) -> Path:
    """Write the demo's documents (:data:`DOCS`) under ``folder``; returns ``folder``."""
    for rel, text in DOCS.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def build_corpus(out: Path) -> dict:
    """Write the demo media under ``out/corpus`` and return paths useful for queries."""
    from .testing.mediagen import Narration, Scene, make_video, speak, text_image

    corpus = out / "corpus"
    (corpus / "images").mkdir(parents=True, exist_ok=True)
    (corpus / "video").mkdir(parents=True, exist_ok=True)
    (corpus / "audio").mkdir(parents=True, exist_ok=True)
    write_docs(corpus)
    text_image("BEACH PARTY 2026", corpus / "images/poster.png", bg=(250, 200, 60), fg=(20, 20, 120))
    text_image("STOP", corpus / "images/sign.jpg", bg=(200, 20, 20), fg=(255, 255, 255), font_size=80)
    text_image("Gate 14  Departures", corpus / "images/airport.webp", bg=(30, 30, 30), fg=(250, 220, 0))
    scenes = [Scene(5.0, (20, 40, 160), "OMNIDEX DEMO"), Scene(7.0, (20, 120, 40), "Q3 REVENUE +20%"),
              Scene(8.0, (120, 60, 20), "SOLAR ROOF")]
    make_video(corpus / "video/keynote.mp4", scenes, [Narration(t, s) for t, s in NARRATION])
    speak("Please remember to water the tomato plants every morning.", corpus / "audio/reminder.wav")
    _shape_photos(corpus / "images/shapes")
    query_dir = out / "queries"
    query_dir.mkdir(parents=True, exist_ok=True)
    img = text_image("BEACH PARTY 2026", None, bg=(250, 200, 60), fg=(20, 20, 120))
    img.resize((img.width // 2, img.height // 2)).save(query_dir / "poster_small.jpg", quality=70)
    speak("garden tomatoes", query_dir / "spoken_query.wav")
    _excerpt(corpus / "video/keynote.mp4", 8.4, 4.0, query_dir / "keynote_excerpt.mp4")
    return {"corpus": corpus, "image_query": query_dir / "poster_small.jpg",
            "audio_query": query_dir / "spoken_query.wav", "video_query": query_dir / "keynote_excerpt.mp4"}


SHAPES = [("red", "star"), ("blue", "circle"), ("green", "triangle"), ("yellow", "heart")]


def _shape_photos(folder: Path) -> None:
    """Pictures of single coloured shapes: what the bundled offline visual model knows."""
    import random

    from .testing.scenes import make_object, pick_background, render

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    for colour, shape in SHAPES:
        obj = make_object(rng, (colour, shape), "centre", size="large", texture="plain")
        render([obj], pick_background(rng, [colour]), 128).save(folder / f"{colour}_{shape}.png")


def _excerpt(video: Path, start: float, seconds: float, out: Path) -> None:
    """A re-encoded, smaller excerpt of a video (a query for clip-in-video search)."""
    import subprocess

    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-ss", str(start), "-i", str(video),
                    "-t", str(seconds), "-vf", "scale=160:-2", "-c:v", "libx264", "-an", str(out)], check=True)


def run(out: Path, fresh: bool = True) -> None:
    """Build, index and query; print everything a new user wants to see."""
    from rich.console import Console

    from .api import Index
    from .render import ProgressReporter, print_hits, print_report

    con = Console()
    if fresh and out.exists():
        shutil.rmtree(out)
    con.rule("[bold]1. building a demo corpus")
    paths = build_corpus(out)
    con.rule("[bold]2. indexing")
    idx = Index(out / "omnidex-data")
    with ProgressReporter() as progress:
        report = idx.add([paths["corpus"]], progress=progress)
    print_report(report)
    con.print(idx.stats())
    con.rule("[bold]3. searching")
    queries = [
        ("text (paraphrase of speech)", dict(text="how much did sales increase")),
        ("text (words on screen)", dict(text="solar roof")),
        ("text (document)", dict(text="what do I need for hiking")),
        ("text (text inside an image)", dict(text="beach party")),
        ("image (near-duplicate)", dict(image=paths["image_query"])),
        ("audio (spoken query)", dict(audio=paths["audio_query"])),
        ("text (pixels, offline visual model)", dict(text="a yellow heart", modality="image")),
        ("video (where does this clip occur?)", dict(video=paths["video_query"])),
        ("text (nothing like it in the demo)", dict(text="a dog playing chess")),
    ]
    for label, q in queries:
        t0 = time.perf_counter()
        hits = idx.search(top_k=3, **q)
        con.print(f"[bold cyan]{label}[/]: {q}  ({(time.perf_counter() - t0) * 1000:.0f} ms)")
        print_hits(hits, next(iter(q.values())))


def main() -> None:
    """CLI of the demo."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="demo-data", type=Path)
    run(ap.parse_args().out)


if __name__ == "__main__":
    main()
