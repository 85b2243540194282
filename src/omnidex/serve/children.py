"""Worker processes of the server (the ingest process, the search workers): spawned, never forked
(the server has threads, open tables and loaded models), talked to over a pipe, stopped with a
message and terminated when they do not go."""
from __future__ import annotations

import multiprocessing


def spawn(target, args: tuple, name: str):
    """Start ``target(child_end, *args)`` in a spawned daemon process.

    Returns:
        (the server's end of the pipe, the process).
    """
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
    proc.start()
    child.close()
    return conn, proc


def stop(conn, proc, message, timeout: float) -> None:
    """Ask the process to stop with ``message``, wait ``timeout`` s, terminate it if it is still there, close the pipe."""
    try:
        conn.send(message)
    except (OSError, ValueError):
        pass
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout)
    conn.close()
