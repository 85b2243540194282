"""How often a word OCR guessed from a faint token is right (what ``calibrate.GUESS_WEIGHT`` rests on).

The faint path adds to a picture's hidden word stream the words it read in other views, and words
it guessed: string repairs of faint tokens and the lexicon rescoring's best candidates, marked
``~`` (:data:`omnidex.encoders.wordsplit.GUESS`). This counts, on the development pictures only
(bench.neardup's OCR conditions over the dev photographs, seed 0, and the mahotas photographs,
seed 7; and a 60-picture library of dev photographs, one in five with words), how many guessed
words are among the words the picture really shows.

Run from the repository root::

    python -m bench.ocr.guesses --out DIR

Writes ``DIR/results.json`` and ``DIR/table.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def run(out: Path, log=print) -> dict:
    from PIL import Image

    from bench.neardup.images import photo_sets as nd_photos
    from bench.neardup.ocr import build as nd_build
    from omnidex.encoders.ocr import OCR
    from omnidex.encoders.wordsplit import SEPARATOR, read_and_guessed

    from .library import build as lib_build
    from .library import photo_sets as lib_photos

    work = out / "work"
    dev, held = nd_photos()
    sets = {"dev (seed 0)": [(it["path"], it["words"]) for it in nd_build(work / "dev", 8, [dev[k] for k in ("astronaut", "coffee", "rocket", "china")], 0)],
            "mahotas (seed 7, dev since stop 23)": [(it["path"], it["words"]) for it in nd_build(work / "s7", 8, [held[k] for k in sorted(held)], 7)],
            "library (dev photographs)": [(it["path"], it["words"]) for it in lib_build(work / "lib", lib_photos()[0], 60, 5)]}
    ocr = OCR()
    res = {}
    for name, pics in sets.items():
        right = guessed = read_right = read_words = 0
        for path, words in pics:
            img = Image.open(path).convert("RGB")
            img.thumbnail((1024, 1024))  # as ingest hands it over
            text = ocr.read_text_or_faint(img)
            truth = {w.lower() for w in words}
            read, guesses = read_and_guessed(text)
            g = guesses.lower().split()
            right += sum(w in truth for w in g)
            guessed += len(g)
            others = [w.lower() for w in read.partition(SEPARATOR)[2].split() if w.isalpha() and len(w) >= 4]
            read_right += sum(w in truth for w in others)
            read_words += len(others)
        res[name] = {"pictures": len(pics), "guesses": guessed, "guesses_right": right,
                     "other_readings": read_words, "other_readings_right": read_right}
        log(f"{name}: {res[name]}")
    total = sum(v["guesses"] for v in res.values())
    res["all"] = {"guesses": total, "guesses_right": sum(v["guesses_right"] for v in res.values()),
                  "precision": round(sum(v["guesses_right"] for v in res.values()) / total, 3) if total else None}
    return res


def table(res: dict) -> str:
    lines = ["# Words OCR guessed from faint tokens: how many are right (development pictures)", "",
             "| set | pictures | guessed words | right | other readings (letters, 4+) | right |", "|---|---|---|---|---|---|"]
    for name, v in res.items():
        if name != "all":
            lines.append(f"| {name} | {v['pictures']} | {v['guesses']} | {v['guesses_right']} | {v['other_readings']} | {v['other_readings_right']} |")
    a = res["all"]
    lines += ["", f"All sets: {a['guesses_right']} of {a['guesses']} guessed words right (precision {a['precision']})."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    res = run(args.out.resolve())
    (args.out / "results.json").write_text(json.dumps(res, indent=2))
    (args.out / "table.md").write_text(table(res))
    print(json.dumps(res))
    print(table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
