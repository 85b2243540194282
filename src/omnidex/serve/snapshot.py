"""Consistent read views of a store while an ingest writes to it.

A LanceDB table is versioned: every write makes a new version and a handle can be pinned to one
(``checkout``). An ingest lands a batch as journal add -> segment adds -> files upsert -> journal
delete, so a reader that pins every table at versions read while the journal was empty (and did
not change during the reads) sees exactly the last committed state: never a half-written file.
"""
from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from ..errors import OmnidexError
from ..store.lance import FILES, JOURNAL, Store


class PinnedStore(Store):
    """A read-only :class:`Store` whose tables are pinned at given versions.

    Args:
        root: database directory.
        versions: table name -> version to read (tables not named do not exist in this view).
    """

    def __init__(self, root: str | Path, versions: dict[str, int]):
        super().__init__(root)
        self.versions = dict(versions)
        for name, version in self.versions.items():  # open eagerly: no races between readers later
            tbl = self.db.open_table(name)
            tbl.checkout(version)
            self._tables[name] = tbl

    def _names(self) -> list[str]:
        return list(self.versions)

    def table(self, name: str):
        """The pinned table, or None when it did not exist at this snapshot."""
        return self._tables.get(name)

    def _files(self):
        return self._tables.get(FILES)

    def lock(self) -> None:  # pragma: no cover - a snapshot is never written
        raise OmnidexError(f"{self.root}: a pinned snapshot is read-only")

    def commit(self, *args, **kwargs) -> None:  # pragma: no cover
        raise OmnidexError(f"{self.root}: a pinned snapshot is read-only")


class VersionWatch:
    """Reads the latest committed table versions of a database, cheaply and repeatedly.

    Args:
        root: database directory.
    """

    def __init__(self, root: str | Path):
        from ..store.lancedb_import import load

        lancedb = load()

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(self.root), read_consistency_interval=timedelta(0))
        self._handles: dict = {}
        self._lock = threading.Lock()

    def _handle(self, name: str):
        if name not in self._handles:
            self._handles[name] = self._db.open_table(name)
        return self._handles[name]

    def _journal_state(self, names: list[str]) -> tuple[int, int] | None:
        """(version, pending rows) of the journal; (0, 0) when there is none yet."""
        if JOURNAL not in names:
            return (0, 0)
        tbl = self._handle(JOURNAL)
        return (tbl.version, tbl.count_rows())

    def committed(self, force: bool = False) -> dict[str, int] | None:
        """Versions of every table at the last committed state, or None while a batch is in flight.

        Args:
            force: return the latest versions even while a batch is pending (start-up after a
                crashed ingest: readers filter rows of files that have no files row).
        """
        with self._lock:
            names = list(self._db.list_tables().tables)
            before = self._journal_state(names)
            versions = {n: self._handle(n).version for n in names if n != JOURNAL}
            after = self._journal_state(list(self._db.list_tables().tables))
        if force or (before == after and before[1] == 0):
            return versions
        return None
