"""The Python API: ``Index(path).add(...)`` and ``.search(...)``."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .config import DEFAULT_DB, IndexConfig, SearchConfig
from .types import Hit, IngestReport


class Index:
    """A searchable index of media on disk.

    Args:
        path: database directory (created on first ``add``).
        config: ingest configuration (encoders, sampling, chunking).

    Example:
        >>> idx = Index("omnidex-data")
        >>> idx.add(["~/Pictures", "talks/"])
        >>> for hit in idx.search("the speaker talks about quarterly results"):
        ...     print(hit.path, hit.start, hit.end, hit.score)
    """

    def __init__(self, path: str | Path = DEFAULT_DB, config: IndexConfig | None = None, *, read_only: bool = False):
        from .store import Store

        self.path = str(path) if "://" in str(path) else Path(path)  # a directory, or s3://, gs://, az://
        self.config = config or IndexConfig()
        self.store = Store(self.path, read_only=read_only)
        self._searcher = None
        self._models = None

    @classmethod
    def open(cls, path: str | Path = DEFAULT_DB, config: IndexConfig | None = None, *,
             read_only: bool = True) -> "Index":
        """An index that must already exist (``Index(path)`` creates one on first ``add``).

        Args:
            path: database directory or URI.
            config: as for :class:`Index`.
            read_only: search, stats and duplicates only; ``add`` and other writes raise.
        Raises:
            omnidex.errors.NoIndex: nothing is indexed at ``path``; nothing was created there.
        """
        index = cls(path, config, read_only=True)  # raises NoIndex before anything is created
        if not read_only:
            from .store import Store

            index.store = Store(index.path)
        return index

    def add(self, paths, prune: bool = False, progress=None, log=None) -> IngestReport:
        """Index files and folders; unchanged files are skipped, changed ones re-indexed.

        Args:
            paths: a path or a list of paths (files or folders).
            prune: also delete rows of files under these paths that no longer exist.
            progress: optional callable ``(done, total, current_path)``.
            log: optional callable receiving one-line messages about index maintenance
                (an ANN index being built or extended after the run).
        Returns:
            What happened to every file.
        """
        from .spaces import Models
        from .ingest.pipeline import Ingestor

        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        self._models = self._models or Models(self.config)
        report = Ingestor(self.store, self.config, self._models, progress, log=log).run(
            [Path(p).expanduser() for p in paths], prune=prune)
        from .store.roots import record_roots

        record_roots(self.path, paths)  # the server serves and re-indexes under folders indexed here
        self.forget_searcher()  # tables changed: rebuild calibration samples
        from .search.reference import warm

        warm(self.store, self._models)  # score references and domain banks ready for the first search
        return report

    def search(self, text: str | None = None, *, image=None, audio=None, video=None, top_k: int = 10,
               modality: tuple[str, ...] | list[str] | str = (), path_glob: str | None = None,
               in_path: str | Path | None = None, parts=None, series=None, **options) -> list[Hit]:
        """Ranked moments for a text, image and/or audio query, or an arithmetic / weighted one.

        Args:
            text: words to look for (matched against speech, OCR, documents and pixels), or an
                arithmetic query such as ``"zebra.jpg - 'stripes' + 'spots'"``.
            image: path of a query image (near-duplicates and visually similar content).
            audio: path of a query recording (transcribed, then searched as text).
            video: path of a video clip: where it occurs inside indexed videos, near-duplicates.
            series: windows shaped like this example: ``"FILE[:COLUMN[:START:END]]"`` (a CSV,
                Parquet or .npy file; START:END in its time unit or sample indices) or a 1-D array.
                Exact top-k by z-normalised Euclidean distance with SAX/MINDIST pruning
                (``series_exact=False``: the vector index). Answered on its own.
            in_path: search within this one file only.
            parts: weighted query parts combined into one vector per space: ``Term`` objects,
                ``(kind, value, weight)`` tuples or ``"KIND:VALUE[:WEIGHT]"`` strings, e.g.
                ``[("text", "a red car", 0.7), ("image", "a.jpg", 0.3)]``. How an arithmetic or
                weighted query was combined is then in :attr:`last_explanation`.
            top_k: moments to return.
            modality: keep only these file kinds or sources (image, video, audio, text, speech, ocr).
            path_glob: keep only paths matching this glob.
            options: other :class:`SearchConfig` fields.
        Returns:
            Hits, best first.
        """

        if isinstance(modality, str):
            modality = tuple(m for m in modality.split(",") if m)
        cfg = replace(SearchConfig(), top_k=top_k, modality=tuple(modality), path_glob=path_glob,
                      in_path=str(in_path) if in_path else None, **options)
        return self.searcher.search(text=text, image=image, audio=audio, cfg=cfg, video=video, parts=parts,
                                     series=series)

    @property
    def searcher(self):
        """The :class:`omnidex.search.engine.Searcher` over this index's store (built on first use)."""
        if self._searcher is None:
            from .search.engine import Searcher

            self._searcher = Searcher(self.store, whisper_model=self.config.whisper_model,
                                      runtimes=self.config.runtimes)
        return self._searcher

    def use(self, store, searcher=None) -> None:
        """Answer from ``store`` (e.g. a snapshot pinned to table versions) through ``searcher``
        (None: one is built on the next search)."""
        self.store, self._searcher = store, searcher

    def forget_searcher(self) -> None:
        """Drop the searcher after the tables changed: the next search rebuilds its calibration samples."""
        self._searcher = None

    @property
    def last_explanation(self) -> dict | None:
        """How the last arithmetic or weighted query was combined (terms, weights, spaces, cosines)."""
        return None if self._searcher is None else self._searcher.last_explanation

    def ask(self, question: str, file: str | Path | None = None, llm=None, **options):
        """Answer a question from the index with a vision-language model, citing timestamps.

        Args:
            question: what to ask.
            file: only look inside this file.
            llm: an :class:`omnidex.ask.LLMConfig` (default: OMNIDEX_LLM_URL / _MODEL / _API_KEY).
            options: ``top_k``, ``max_frames``, ``retry``, ``backend`` of :func:`omnidex.ask.ask`.
        Returns:
            An :class:`omnidex.ask.Answer` whose citations exist in the evidence.
        """
        from .ask import ask

        return ask(self, question, file=str(file) if file else None, llm=llm, **options)

    def caption(self, paths=None, llm=None, **options) -> list[dict]:
        """Caption indexed images and video shots; the captions become searchable text (source "caption").

        Args:
            paths: only files under these paths (default: all indexed images and videos).
            llm: an :class:`omnidex.ask.LLMConfig` (default: the environment).
            options: ``prompt``, ``progress``, ``backend`` of :func:`omnidex.ask.caption`.
        Returns:
            One dict per caption: path, start, end, caption.
        """
        from .ask import caption

        return caption(self, paths, llm=llm, **options)

    def duplicates(self, min_score: float = 0.5, progress=None) -> list[dict]:
        """Videos that are near-duplicates of, or contained in, other indexed videos.

        Args:
            min_score: least match score (share of frames agreeing x pixel alignment) kept.
            progress: optional callable ``(done, total, path)``.
        Returns:
            [{"path", "other", "relation": "near-duplicate" | "inside", "start", "end", "score"}].
        """
        from .search.video_query import find_duplicates

        cfg = replace(SearchConfig(), min_score=min_score)
        return find_duplicates(self.store, self.searcher.encoder("phash"), cfg, progress)

    def stats(self) -> dict:
        """Row counts per table and the encoder of each vector space."""
        out = {"db": str(self.path), "files": self.store.count("files"), "spaces": {}}
        for space in self.store.spaces():
            spec = self.store.space_spec(space)
            out["spaces"][space] = {"rows": self.store.count(space), "encoder": spec.identity, "dim": spec.dim}
            params = self.store.index_params(space)
            out["spaces"][space]["search"] = ({"index": params["kind"], "nprobes": params["nprobes"],
                                               "refine_factor": params["refine_factor"],
                                               "measured_recall@10": params["recall@10"]}
                                              if params else {"index": "exact (in memory)"})
            if space in ("visual", "sound"):  # how far text queries trust this space (search.domain)
                from .search.domain import domain_summary

                out["spaces"][space]["reliability"] = domain_summary(spec)
        return out
