"""Audio-text benchmark: the sound encoder on held-out generated sounds, and sound search through a
real index (text query -> the right file first; query by example -> the same class first).

    python -m bench.audio.run [--model DIR | --clap ID] [--per-class 20] [--seed 2026] [--out DIR]

Prints a table and the JSON record (also written to OUT/audio.json when --out is given). Every number
is measured here, on sounds generated with a seed the bundled model's build never used.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def encoder_for(args):
    from omnidex.audio.encoder import sound_encoder
    from omnidex.encoders.registry import build

    spec = args.clap or (f"audio-lit:{args.model}" if args.model else None)
    name, model = sound_encoder(spec)
    return spec, build(name, model=model)


def heldout_metrics(enc, per_class: int, seed: int) -> dict:
    """Class-level text->sound recall on fresh generated clips (resampled to the encoder's rate)."""
    from omnidex.audio.evaluate import evaluate_sound_set
    from omnidex.audio.frontend import resample
    from omnidex.audio.synth import HELDOUT_COMBOS, SR, generate

    held = generate(per_class, seed=seed, split="heldout", paraphrase=False)
    seen = {k for k in held.keys if k not in HELDOUT_COMBOS}
    t0 = time.perf_counter()
    m = evaluate_sound_set(lambda clips: enc.encode_audio([resample(c, SR, enc.sample_rate) for c in clips]),
                           enc.encode_text, held, {"seen_classes": seen, "unseen_combinations": set(HELDOUT_COMBOS)})
    m["clips_per_s"] = round(len(held.clips) / (time.perf_counter() - t0), 1)
    return m


def index_metrics(spec: str | None, seed: int, work: Path) -> dict:
    """Index one 6 s file per sound class; per class: its canonical caption as a text query and a fresh
    clip as an example query; report how often the class's own file comes first (and in the top 5)."""
    from omnidex import Index, IndexConfig
    from omnidex.audio.synth import catalogue, render
    from omnidex.spaces import Models
    from omnidex.search.engine import Searcher
    from omnidex.testing.mediagen import write_wav

    media, queries = work / "media", work / "queries"
    media.mkdir(parents=True)
    queries.mkdir()
    classes = catalogue()
    names = {c.key: "-".join(c.key) for c in classes}
    for i, c in enumerate(classes):
        rng = np.random.default_rng([seed, i])
        write_wav(media / f"{names[c.key]}.wav", np.concatenate([render(c, rng), render(c, rng)]), 16_000)
        write_wav(queries / f"{names[c.key]}.wav", render(c, np.random.default_rng([seed, i, 1])), 16_000)
    cfg = IndexConfig(clip_model=None, speech=False, ocr=False, clap_model=spec)
    t0 = time.perf_counter()
    idx = Index(work / "db", cfg)
    report = idx.add([media])
    index_s = time.perf_counter() - t0
    searcher = Searcher(idx.store, Models(cfg))  # sound only: the example queries are not transcribed
    text_ranks, example_ranks = [], []
    for c in classes:
        target = f"{names[c.key]}.wav"
        for query, ranks in (({"text": c.captions[0]}, text_ranks),
                             ({"audio": queries / target}, example_ranks)):
            from omnidex.config import SearchConfig

            hits = searcher.search(cfg=SearchConfig(top_k=10, min_score=0.0), **query)
            files = [h.path.rsplit("/", 1)[-1] for h in hits]
            ranks.append(files.index(target) + 1 if target in files else None)

    def summary(ranks):
        return {"top1": float(np.mean([r == 1 for r in ranks])),
                "top5": float(np.mean([r is not None and r <= 5 for r in ranks])),
                "chance_top1": 1.0 / len(classes)}

    return {"files": len(classes), "windows": idx.store.count("sound"), "index_s": round(index_s, 1),
            "indexed": report.count("indexed"), "text_query": summary(text_ranks),
            "example_query": summary(example_ranks),
            "per_class": [{"class": names[c.key], "text_rank": t, "example_rank": e}
                          for c, t, e in zip(classes, text_ranks, example_ranks)]}


def print_table(rec: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    h = rec["heldout"]
    t = Table(title=f"audio-text: {rec['encoder']}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("chance", justify="right")
    for name, part in (("all classes", h), ("seen classes", h.get("seen_classes")),
                       ("unseen combinations", h.get("unseen_combinations"))):
        if part:
            for k in ("R@1", "R@5"):
                t.add_row(f"held-out text->sound {k} ({name}, {part.get('queries', h['queries'])} queries)",
                          f"{part[k]:.3f}", f"{part['chance'][k]:.3f}")
    t.add_row("held-out sound->text accuracy", f"{h['sound_to_text_acc']:.3f}", f"{h['sound_to_text_chance']:.3f}")
    ix = rec["index"]
    for q in ("text_query", "example_query"):
        t.add_row(f"index {q.replace('_', ' ')}: own file first ({ix['files']} files)",
                  f"{ix[q]['top1']:.3f}", f"{ix[q]['chance_top1']:.3f}")
        t.add_row(f"index {q.replace('_', ' ')}: own file in top 5", f"{ix[q]['top5']:.3f}", "")
    Console().print(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="an audio-lit model directory (default: the bundled one)")
    p.add_argument("--clap", default=None, help="a CLAP hub id or directory instead")
    p.add_argument("--per-class", dest="per_class", type=int, default=20, help="held-out clips per class")
    p.add_argument("--seed", type=int, default=2026, help="generation seed (the build uses 0 and 1)")
    p.add_argument("--out", default=None, help="write audio.json here")
    args = p.parse_args(argv)
    spec, enc = encoder_for(args)
    rec = {"encoder": enc.identity, "per_class": args.per_class, "seed": args.seed}
    rec["heldout"] = heldout_metrics(enc, args.per_class, args.seed)
    with tempfile.TemporaryDirectory(prefix="omnidex-audio-bench-") as tmp:
        rec["index"] = index_metrics(spec, args.seed, Path(tmp))
    print_table(rec)
    text = json.dumps(rec, indent=1, default=str)
    print(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "audio.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
