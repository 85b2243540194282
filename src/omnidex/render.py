"""Terminal output: progress bar, ingest summary and hit tables (rich, on stderr/stdout)."""
from __future__ import annotations

import time

from .types import Hit, IngestReport


class ProgressReporter:
    """A rich progress bar with files/s and ETA, usable as the ``progress`` callback."""

    def __init__(self, enabled: bool = True, label: str = "indexing"):
        self.enabled, self.label = enabled, label
        self._progress = None
        self._task = None
        self._t0 = time.perf_counter()

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._progress = Progress(
                TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} files/s"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), TextColumn("{task.fields[name]}", style="dim"),
                console=Console(stderr=True), transient=False)
            self._progress.__enter__()
        return self

    def __call__(self, done: int, total: int, path: str) -> None:
        if self._progress is None:
            return
        rate = done / max(time.perf_counter() - self._t0, 1e-9)
        name = path.rsplit("/", 1)[-1][:40]
        if self._task is None:
            self._task = self._progress.add_task("index", total=total, rate="0.0", name=name)
        self._progress.update(self._task, completed=done, total=total, rate=f"{rate:.1f}", name=name)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)


def print_report(report: IngestReport) -> None:
    """Summary table of an ingest, with every skipped and failed file and its reason."""
    from rich.console import Console
    from rich.table import Table

    con = Console()
    for notice in report.notices:
        con.print(f"[yellow]notice[/]: {notice}")
    bad = [o for o in report.outcomes if o.status in ("skipped", "failed")]
    if bad:
        t = Table(title="not indexed", show_lines=False)
        for col in ("status", "file", "reason"):
            t.add_column(col)
        for o in bad:
            t.add_row(o.status, o.path, o.reason)
        con.print(t)
    segs = sum(o.segments for o in report.outcomes if o.status == "indexed")
    con.print(f"[bold]indexed[/] {report.count('indexed')} files ({segs} segments), "
              f"unchanged {report.count('unchanged')}, skipped {report.count('skipped')}, "
              f"failed {report.count('failed')}, pruned {report.pruned} in {report.wall_s:.1f}s"
              + (" [red](interrupted: re-run to continue)[/]" if report.interrupted else ""))
    for space, done in report.indexes.items():
        if done.get("kind"):
            con.print(f"[dim]{space}: {done['rows']} vectors, {done['kind']} index ({done['action']}), "
                      f"measured recall@10 {done['recall@10']:.3f}[/]")


def print_hits(hits: list[Hit], query) -> None:
    """Rich table: score, file, moment, modality, signals, evidence.

    Confident hits come first; weak ones are dimmed below a divider, and when nothing clears the
    threshold the output says so before showing them.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console()
    if not hits:
        con.print(f"[bold]no confident match[/] for {escape(str(query))!s}: nothing matched at all")
        return
    sure = [h for h in hits if h.confident]
    if not sure:
        con.print(f"[bold]no confident match[/] for {escape(str(query))!s}: the closest weak hits follow")
    t = Table(title=escape(f"results for {query!s}"))
    for col in ("#", "score", "file", "moment", "from", "signals", "evidence"):
        t.add_column(col, overflow="fold")
    weak = [h for h in hits if not h.confident]
    for i, h in enumerate(sure + weak, 1):
        if sure and i == len(sure) + 1:
            t.add_section()
        t.add_row(*_hit_cells(i, h), style=None if h.confident else "dim")
    con.print(t)


def _hit_cells(i: int, h: Hit) -> list[str]:
    from rich.markup import escape

    from .types import format_time

    d = h.to_dict()
    sig = " ".join(f"{k}={v:.2f}" + (f"(x{h.reliability[k]:.2f})" if h.reliability.get(k, 1.0) < 1.0 else "")
                   for k, v in h.signals.items())
    moment = d["moment"] + (f"\nframe {format_time(h.frame_time)}" if h.frame_time is not None else "")
    score = f"{h.score:.3f}" + ("" if h.confident else "\nweak")
    origin = (h.source or h.modality) + ("\ngenerated" if h.generated else "")  # omnidex generate made it
    return [str(i), score, escape(h.path), moment, origin, sig, _snippet(h)]


def _snippet(h: Hit, width: int = 90) -> str:
    from rich.markup import escape

    text = h.evidence.replace("\n", " ")
    if len(text) > width:
        text = text[: width - 1] + "…"
    text = escape(text)
    for w in h.matched_words:
        text = text.replace(w, f"[bold yellow]{w}[/]")
    if h.also_read:  # matched in another reading of the words on screen (split, or read in a faint view)
        text += " [italic](also read: " + ", ".join(f"[bold yellow]{escape(w)}[/]" for w in h.also_read) + ")[/]"
    if h.guessed:  # matched only among words guessed from faint letters
        text += " [italic](guessed: " + ", ".join(f"[yellow]{escape(w)}[/]" for w in h.guessed) + ")[/]"
    return text


def print_duplicates(found: list[dict]) -> None:
    """Rich table of near-duplicate and contained videos."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .types import format_span

    if not found:
        Console().print("no duplicate videos found")
        return
    t = Table(title="duplicate videos")
    for col in ("score", "video", "relation", "other video", "where"):
        t.add_column(col, overflow="fold")
    for d in found:
        where = "" if d["relation"] == "near-duplicate" else format_span(d["start"], d["end"], "s")
        t.add_row(f"{d['score']:.3f}", escape(d["path"]), d["relation"], escape(d["other"]), where)
    Console().print(t)


def print_stats(stats: dict) -> None:
    """Readable table of :meth:`omnidex.Index.stats`: one row per vector space."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console()
    con.print(f"[bold]{escape(str(stats['db']))}[/]: {stats['files']} files")
    if not stats["spaces"]:
        con.print("no vector spaces yet")
        return
    t = Table(title="vector spaces")
    for col in ("space", "rows", "dim", "encoder", "search", "domain"):
        t.add_column(col, overflow="fold")
    for space, s in stats["spaces"].items():
        found = s["search"]
        how = found["index"] if "nprobes" not in found else (
            f"{found['index']} (nprobes {found['nprobes']}, refine {found['refine_factor']}, "
            f"recall@10 {found['measured_recall@10']:.3f})")
        t.add_row(space, str(s["rows"]), str(s["dim"]), escape(str(s["encoder"])), how,
                  (s.get("reliability") or {}).get("domain", ""))
    con.print(t)
