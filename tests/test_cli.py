"""The command line as a user meets it: one registry of commands, the version, ``--top-k`` / ``--top``,
``--json``, read commands that never create a database, and a closed pipe that ends quietly.

The index used here holds a few text notes (no picture, sound or speech models), built once.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from omnidex.cli import EXIT_PIPE, build_parser, main

LIGHT = ["--clip", "none", "--clap", "none", "--no-speech", "--no-ocr", "--no-shots"]
NOTES = {"lighthouse.txt": "The lighthouse keeper climbs the tower at dusk to light the lamp.",
         "violin.txt": "Repairing a cracked violin top needs hide glue and patience.",
         "glacier.txt": "The glacier hike starts at the hut before sunrise."}
READ_COMMANDS = [["search", "lighthouse"], ["stats"], ["duplicates"], ["ask", "what is here?"], ["caption"],
                 ["eval", "--queries", "QUERIES", "--index"]]


def _run(*args, input_closed: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """``python -m omnidex ARGS`` in a child process."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "omnidex", *args], capture_output=True, text=True, env=env,
                          timeout=600, **kwargs)


def _tree(root: Path) -> list[tuple[str, int]]:
    """Every file under ``root`` with its size: what a read command must leave as it was."""
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def notes_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    media = root / "notes"
    media.mkdir()
    for name, text in NOTES.items():
        (media / name).write_text(text + "\n")
    db = root / "db"
    assert main(["index", str(media), "--db", str(db), "--json", *LIGHT]) == 0
    return db


# ----- the parser ----------------------------------------------------------------------------------
def test_every_command_has_a_handler_and_python_m_omnidex_runs():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd")
    assert {"index", "search", "stats", "duplicates", "probe", "serve", "mcp", "ask", "caption"} <= set(sub.choices)
    for name, p in sub.choices.items():
        assert callable(p.get_default("func")), name
    done = _run("--help")
    assert done.returncode == 0 and "usage: omnidex" in done.stdout and "caption" in done.stdout


def test_version_comes_from_the_package_metadata():
    import omnidex

    assert omnidex.__version__ == version("omnidex")
    done = _run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"omnidex {version('omnidex')}"
    src = Path(omnidex.__file__).parent
    copies = [p for p in src.rglob("*.py") if f'"{version("omnidex")}"' in p.read_text(encoding="utf-8")]
    assert copies == []  # pyproject.toml is the one place it is written


@pytest.mark.parametrize("cmd, dest", [(["search", "q"], "top_k"), (["ask", "q?"], "top_k"), (["eval", "p.csv"], "top_k"),
                                       (["classify", "a.jpg", "--labels", "x"], "top")])
def test_top_is_an_alias_of_top_k(cmd, dest):
    parser = build_parser()
    assert getattr(parser.parse_args([*cmd, "--top-k", "7"]), dest) == 7
    assert getattr(parser.parse_args([*cmd, "--top", "7"]), dest) == 7


# ----- read commands never create a database ---------------------------------------------------------
@pytest.mark.parametrize("cmd", READ_COMMANDS, ids=lambda c: c[0])
def test_read_commands_on_a_missing_index_exit_2_and_create_nothing(tmp_path, capsys, cmd):
    typo, queries = tmp_path / "typo", tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"query": "lighthouse", "relevant": ["lighthouse.txt"]}) + "\n")
    argv = [str(queries) if a == "QUERIES" else a for a in cmd]
    assert main([*argv, str(typo)] if cmd[-1] == "--index" else [*argv, "--db", str(typo)]) == 2
    err = capsys.readouterr().err
    assert f"omnidex: error: no index at {typo} (run omnidex index" in err and "Traceback" not in err
    assert not typo.exists() and list(tmp_path.iterdir()) == [queries]


def test_an_empty_folder_is_no_index_and_stays_empty(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["stats", "--db", str(empty)]) == 2
    assert "no index at" in capsys.readouterr().err and list(empty.iterdir()) == []


def test_missing_index_from_the_shell(tmp_path):
    done = _run("search", "anything", "--db", "typo", cwd=tmp_path)
    assert done.returncode == 2 and not (tmp_path / "typo").exists()
    assert done.stderr.strip() == "omnidex: error: no index at typo (run omnidex index FILES --db typo first)"


def test_a_read_only_store_refuses_writes(notes_db):
    from omnidex.errors import OmnidexError
    from omnidex.store import Store

    store = Store(notes_db, read_only=True)
    assert store.count("files") == len(NOTES)
    for write in (store.lock, lambda: store.delete_paths(["x"]), lambda: store.commit("b", [], {}, [])):
        with pytest.raises(OmnidexError, match="read-only"):
            write()


def test_search_and_stats_leave_the_index_as_it_was(notes_db, capsys):
    before = _tree(notes_db)
    assert main(["search", "lighthouse keeper", "--db", str(notes_db), "--json", "--top-k", "2"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert 1 <= len(hits) <= 2 and hits[0]["path"].endswith("lighthouse.txt")
    assert main(["stats", "--db", str(notes_db)]) == 0
    assert main(["duplicates", "--db", str(notes_db), "--json"]) == 0
    capsys.readouterr()
    assert _tree(notes_db) == before


# ----- --json and the stats table ----------------------------------------------------------------------
def test_stats_is_a_table_unless_json(notes_db, capsys):
    assert main(["stats", "--db", str(notes_db)]) == 0
    table = capsys.readouterr().out
    assert f"{len(NOTES)} files" in table and "text" in table and "minilm" in table
    with pytest.raises(json.JSONDecodeError):
        json.loads(table)
    assert main(["stats", "--db", str(notes_db), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["files"] == len(NOTES) and stats["spaces"]["text"]["rows"] >= len(NOTES)


def test_commands_that_print_results_take_json():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd")
    no_results = {"serve", "mcp", "train"}  # servers; train prints its JSON summary always
    lacking = [n for n, p in sub.choices.items()
               if n not in no_results and not any(a.dest == "json" for a in p._actions)]
    assert lacking == []


# ----- a closed pipe ---------------------------------------------------------------------------------
def _closed_pipe(*args) -> tuple[int, str]:
    """Run ``python -m omnidex ARGS`` with the reading end of its stdout closed before it writes
    (what ``| head -1`` does once it has its line): exit status and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "omnidex", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    return proc.wait(timeout=600), err


def test_search_into_a_closed_pipe_ends_quietly(notes_db, monkeypatch, capfd):
    """In this process (the models are loaded already): stdout is a pipe whose reader is gone."""
    read, write = os.pipe()
    os.close(read)
    piped = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", piped)
    try:
        assert main(["search", "lighthouse", "--db", str(notes_db), "--json"]) == EXIT_PIPE
    finally:
        monkeypatch.undo()
        try:
            piped.close()
        except BrokenPipeError:  # pragma: no cover - _silence_stdout pointed it at /dev/null
            pass
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    status, err = _closed_pipe("stats", "--db", str(notes_db))  # rich's table: rich stops it (exit 1)
    assert status != 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_probe_piped_to_head_ends_quietly(tmp_path):
    av = pytest.importorskip("av")
    import numpy as np

    video = tmp_path / "tiny.mp4"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    for extra in ([], ["--json"]):
        status, err = _closed_pipe("probe", str(video), *extra)
        assert status != 0 and "Traceback" not in err and "BrokenPipe" not in err, (extra, err)
    shell = subprocess.run(f"{sys.executable} -m omnidex probe {video} --json | head -1", shell=True,
                           capture_output=True, text=True, timeout=600)
    assert shell.stdout == "{\n" and shell.stderr == ""
