"""The command line under faults and at its caps.

``omnidex index`` when the disk fills or write permission goes away mid-ingest: one line naming the
database folder and what to do, a non-zero exit, the committed batch intact, the next run finishing
the rest (the OSError is simulated on the second batch write, as for the server's index jobs).
``omnidex search`` / ``omnidex classify``: the text caps of :mod:`omnidex.caps`, shared with HTTP and MCP.
"""
from __future__ import annotations

import errno
import json
import os

import pytest

from omnidex.caps import CLI_MAX_LABELS, MAX_LABEL_CHARS, MAX_LABELS, MAX_QUERY_CHARS, check_labels
from omnidex.cli import main
from omnidex.errors import write_fault

TOPICS = ["lighthouse keeper", "violin repair", "sourdough starter", "glacier hike", "chess opening",
          "beekeeping hives", "tram timetable", "orchid watering", "kite festival", "copper roof",
          "falcon training", "lantern parade"]
LIGHT = ["--clip", "none", "--clap", "none", "--no-speech", "--no-ocr", "--no-shots"]


def _notes(root):
    """Twelve tiny text files: two batches at the default ``batch_files`` of 8."""
    media = root / "notes"
    media.mkdir()
    for i, topic in enumerate(TOPICS):
        (media / f"{i:02d}.txt").write_text(f"Notes about the {topic}, written down on day {i}.\n")
    return media


def _files_in(db) -> int:
    from omnidex.api import Index

    return Index(db).stats()["files"]


@pytest.mark.parametrize("errno_name", ["ENOSPC", "EACCES"])
def test_index_disk_full_or_permission_lost_says_so_and_the_next_run_finishes(tmp_path, monkeypatch, capsys,
                                                                              errno_name):
    """The second batch write fails: one line on stderr naming the folder, exit 1, no traceback;
    the first batch stays searchable and the next ``omnidex index`` indexes only the other four."""
    from omnidex.store.lance import Store

    media, db = _notes(tmp_path), tmp_path / "db"
    code = getattr(errno, errno_name)
    real_commit, calls = Store.commit, []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(code, os.strerror(code), str(db / "files.lance" / "data"))
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(Store, "commit", failing)
    assert main(["index", str(media), "--db", str(db), "--json", *LIGHT]) == 1
    err = capsys.readouterr().err.strip()
    lines = [x for x in err.splitlines() if x.startswith("omnidex: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    said = "is full: free some space" if errno_name == "ENOSPC" else "permission to write was lost"
    assert said in lines[0] and str(db) in lines[0] and "index again to finish" in lines[0], lines[0]
    assert _files_in(db) == 8  # the first batch, whole

    monkeypatch.setattr(Store, "commit", real_commit)
    assert main(["index", str(media), "--db", str(db), "--json", *LIGHT]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indexed"] == 4 and report["unchanged"] == 8 and report["failed"] == 0, report
    assert _files_in(db) == 12
    assert main(["search", "lantern parade", "--db", str(db), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits and os.path.basename(hits[0]["path"]) == "11.txt", hits[:2]


def test_write_fault_recognises_lance_io_errors_and_leaves_others():
    """The Rust storage layer's I/O errors carry no errno, only the OS text; other errors are not ours."""
    lance = OSError("LanceError(IO): Generic LocalFileSystem error: Unable to write: "
                    "No space left on device (os error 28)")
    assert "is full" in write_fault(lance, "/data/db") and "/data/db" in write_fault(lance, "/data/db")
    ro = OSError("LanceError(IO): Read-only file system (os error 30)")
    assert "permission to write was lost in the index folder /data/db" in write_fault(ro, "/data/db")
    assert write_fault(OSError(errno.EROFS, "Read-only file system", "/data/db/files.lance"), "/data/db")
    assert write_fault(FileNotFoundError(errno.ENOENT, "No such file", "x"), "/data/db") is None
    assert write_fault(OSError("os error 130"), "/data/db") is None
    assert write_fault(ValueError("No space left on device"), "/data/db") is None


def test_index_other_os_errors_are_not_dressed_up(tmp_path, monkeypatch):
    """An OSError that is neither a full disk nor lost permission propagates unchanged."""
    from omnidex.store.lance import Store

    def broken(self, *args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Store, "commit", broken)
    with pytest.raises(OSError, match="Input/output error"):
        main(["index", str(_notes(tmp_path)), "--db", str(tmp_path / "db"), "--json", *LIGHT])


def test_search_query_capped_like_http_and_mcp(tmp_path, capsys):
    """A query (or a --part) over MAX_QUERY_CHARS is refused before the index is opened."""
    db = tmp_path / "db"
    assert main(["search", "q" * (MAX_QUERY_CHARS + 1), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"query: {MAX_QUERY_CHARS + 1} characters, at most {MAX_QUERY_CHARS}" in err and "Traceback" not in err
    assert main(["search", "--part", "text:" + "w" * MAX_QUERY_CHARS, "--db", str(db)]) == 2
    assert f"at most {MAX_QUERY_CHARS}" in capsys.readouterr().err
    assert not db.exists()  # nothing was opened or created

    from argparse import Namespace

    from omnidex.cli.search import query_within_caps as _query_within_caps

    assert _query_within_caps(Namespace(query="q" * MAX_QUERY_CHARS, parts=["text:red car:0.5"]))


def test_classify_labels_capped_for_the_command_line(tmp_path, capsys):
    """1,000 labels (an ImageNet-size set) pass the CLI cap; one past CLI_MAX_LABELS, or a label
    over MAX_LABEL_CHARS, is refused with exit 2 before any model loads. HTTP keeps 64."""
    from omnidex.classify import _cli_labels

    imagenet = tmp_path / "imagenet.txt"
    imagenet.write_text("\n".join(f"class number {i}" for i in range(1000)) + "\n")
    assert len(_cli_labels(f"@{imagenet}")) == 1000
    assert CLI_MAX_LABELS >= 1000 > MAX_LABELS

    words = tmp_path / "words.txt"
    words.write_text("\n".join(f"word{i}" for i in range(CLI_MAX_LABELS + 1)) + "\n")
    picture = tmp_path / "p.png"
    picture.write_bytes(b"not needed: labels are checked first")
    assert main(["classify", str(picture), "--labels", f"@{words}"]) == 2
    err = capsys.readouterr().err
    assert f"{CLI_MAX_LABELS + 1} given, at most {CLI_MAX_LABELS} per run" in err, err
    assert "right file" in err and "Traceback" not in err

    assert main(["classify", str(picture), "--labels", "cat," + "x" * (MAX_LABEL_CHARS + 1)]) == 2
    assert f"each at most {MAX_LABEL_CHARS} characters" in capsys.readouterr().err

    with pytest.raises(ValueError, match=f"at most {MAX_LABELS} per request"):
        check_labels([f"l{i}" for i in range(MAX_LABELS + 1)])  # the HTTP/MCP cap is unchanged
