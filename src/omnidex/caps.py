"""Caps on text a user hands in: query length and classify labels, shared by every entry point.

The HTTP API and the MCP server (``omnidex.serve``) and the command line read the same constants
from here, so a query that works in one works in the others. Nothing is imported but the standard
library: the command line checks its arguments without loading FastAPI or a model.

Labels differ on purpose. A network request is capped at :data:`MAX_LABELS` because anyone who can
reach the server spends its CPU (each label is encoded once per prompt template: 1,700 labels took
~105 s of CPU in one request). On the command line the user spends their own machine, and a
1,000-class label set such as ImageNet's is a legitimate local job, so ``omnidex classify`` allows
:data:`CLI_MAX_LABELS`; the cap is there to catch a wrong ``@file`` (a word list, a log), not to ration.
"""
from __future__ import annotations

MAX_QUERY_CHARS = 2000  # characters of a text query (HTTP, MCP, `omnidex search`)
MAX_LABELS = 64  # labels of one classify request over HTTP or MCP
CLI_MAX_LABELS = 2000  # labels of one `omnidex classify` run: ImageNet's 1,000 classes with room to spare
MAX_LABEL_CHARS = 100  # characters of one label (everywhere)
MAX_LABELS_CHARS = MAX_LABELS * (MAX_LABEL_CHARS + 1)  # the whole comma list of an HTTP request


def check_labels(labels: list[str], max_labels: int = MAX_LABELS, scope: str = "per request") -> list[str]:
    """Stripped, non-empty labels within the caps.

    Args:
        labels: label strings (blank ones are dropped).
        max_labels: how many are allowed (:data:`MAX_LABELS` over the network,
            :data:`CLI_MAX_LABELS` on the command line).
        scope: how the message names the unit the cap applies to ("per request", "per run").
    Raises:
        ValueError: none, more than ``max_labels``, or one longer than :data:`MAX_LABEL_CHARS`.
    """
    names = [str(x).strip() for x in labels if str(x).strip()]
    if not names:
        raise ValueError("labels: give a comma list such as 'cat,dog,pizza'")
    if len(names) > max_labels:
        raise ValueError(f"labels: {len(names)} given, at most {max_labels} {scope}")
    long = [n for n in names if len(n) > MAX_LABEL_CHARS]
    if long:
        raise ValueError(f"labels: each at most {MAX_LABEL_CHARS} characters ({long[0][:30]!r}… is {len(long[0])})")
    return names


def check_query(text: str | None) -> str | None:
    """A text query within :data:`MAX_QUERY_CHARS` (ValueError otherwise)."""
    if text is not None and len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"query: {len(text)} characters, at most {MAX_QUERY_CHARS}")
    return text
