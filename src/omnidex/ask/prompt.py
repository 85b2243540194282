"""Build the multimodal prompt: instructions, the question, and the evidence with its times."""
from __future__ import annotations

from pathlib import Path

SYSTEM = (
    "You answer questions about the user's media files using ONLY the evidence below: transcript "
    "lines (speech), on-screen text (ocr), captions, document passages and video frames, each labelled "
    "with an id, its file and its time. After every claim, cite the time of the evidence it rests on in "
    "square brackets, copied from the evidence label, e.g. [00:12.5] or [00:12.0–00:18.0]; for images "
    "and documents without times cite the id, e.g. [E3]. Never cite a time that is not in the evidence. "
    "If the evidence does not answer the question, say so briefly."
)


def evidence_parts(evidence: list) -> list:
    """Content parts for the evidence: one text line per item, each picture right after its label."""
    parts: list = []
    for e in evidence:
        name = Path(e.path).name
        if e.image is not None:
            what = f"frame at {e.when()}" if e.source == "frame" else "image"
            parts.append(f"{e.id} · {name} · {what}:")
            parts.append(e.image)
        else:
            parts.append(f"{e.id} · {name} · {e.when()} {e.source}: {' '.join(e.text.split())}".replace("  ", " "))
    return parts


def messages(question: str, evidence: list) -> list[dict]:
    """Backend-neutral chat messages (content parts are strings or PIL images)."""
    content = [f"Question: {question}", "Evidence:"] + evidence_parts(evidence)
    if not evidence:
        content.append("(no evidence was found in the index)")
    content.append("Answer the question now, citing the evidence times in brackets.")
    return [{"role": "system", "content": [SYSTEM]}, {"role": "user", "content": _merge_text(content)}]


def fix_request(problems: list[str]) -> dict:
    """The follow-up message asking the model to repair its citations."""
    return {"role": "user", "content": [
        "Your answer has citation problems:\n- " + "\n- ".join(problems)
        + "\nAnswer again. Cite only times (or ids) that appear in the evidence labels above."]}


def _merge_text(parts: list) -> list:
    """Join consecutive text parts with newlines (fewer, larger text parts; images stay apart)."""
    out: list = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += "\n" + p
        else:
            out.append(p)
    return out
