"""The distributed ingest engine: a Ray Data pipeline over the files the driver decided to index.

    from_items(work items) -> map(decode: sniff, decode, segment, OCR, speech; CPU tasks, 1 CPU)
      -> map_batches(encoder actors: the vector encoders; 1 GPU each when the cluster has GPUs)
      -> iter_rows() back to the driver, which commits journaled batches (the single writer)

Workers get the driver's frozen IndexConfig and build their encoders from it, so every vector
carries the same encoder identity (the driver refuses a batch whose workers disagree). Python
objects Arrow cannot hold (PIL images, arrays, pieces, rows) travel as pickled bytes columns.
Only the driver touches the database, so it may live on object storage; the files to index
must be readable by every worker at the same path.
"""
from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
import time
import warnings
from typing import Iterable, Iterator

from .._require import require
from ..config import IndexConfig
from .engines import (Decoded, FileResult, WorkItem, available_cores, decode_file, embed_file,
                      failure_reason)
from ..spaces import Models

ENCODER_MEMORY = 1 << 30  # bytes reserved per CPU encoder actor (weights + activations)
LOST = "lost: the Ray worker holding this file died (see the Ray logs); the next run retries it"

_MODELS: dict = {}  # per worker process: IndexConfig -> Models (decode tasks reuse their process)


def import_ray():
    """The ``ray`` module with Ray Data, or MissingExtra naming ``pip install 'omnidex[ray]'``."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = require("ray", "ray")
    require("ray.data", "ray")
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> float:
    """Join the Ray cluster at ``address``, or start a private local one; no-op when connected.

    Args:
        address: ``"auto"`` (a cluster started with ``ray start`` on this machine),
            ``"ray://host:10001"`` (Ray Client), or None for a local Ray of ``num_cpus`` CPUs.
        num_cpus: CPUs of a local Ray (default: the cores this process may use).
    Returns:
        Seconds spent starting or joining (0.0 when already connected).
    """
    ray = import_ray()
    if ray.is_initialized():
        return 0.0
    t0 = time.perf_counter()
    on_term = signal.getsignal(signal.SIGTERM)
    with warnings.catch_warnings():  # Ray's daemons are fork+exec'd: LanceDB's fork caveat does not apply
        warnings.filterwarnings("ignore", message="lancedb fork support", category=RuntimeWarning)
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=num_cpus or available_cores(), include_dashboard=False, ignore_reinit_error=True,
                     logging_level=logging.WARNING)
    if threading.current_thread() is threading.main_thread() and on_term is not None:
        signal.signal(signal.SIGTERM, on_term)  # ray.init exits on SIGTERM; the ingest commits first
    return time.perf_counter() - t0


def _worker_models(cfg: IndexConfig) -> Models:
    if cfg not in _MODELS:
        _MODELS[cfg] = Models(cfg)
    return _MODELS[cfg]


def decode_row(row: dict, cfg: IndexConfig) -> dict:
    """Ray task body: one pickled WorkItem -> one pickled Decoded (never raises for a bad file)."""
    item: WorkItem = pickle.loads(row["item"])
    try:
        models = _worker_models(cfg)
        decoded = decode_file(item, cfg, models)
        decoded.notices = list(models.notices)
    except Exception as exc:  # noqa: BLE001 - e.g. a model that fails to load on this node
        decoded = Decoded(item, result=FileResult(item, "failed", failure_reason(exc)))
    return {"index": row["index"], "payload": pickle.dumps(decoded, protocol=5)}


class EncoderActor:
    """Ray actor body: holds the vector encoders and embeds decoded files, one per call.

    Args:
        cfg: the driver's ingest configuration (the same encoders everywhere).
    """

    def __init__(self, cfg: IndexConfig):
        self.models = Models(cfg)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        out = []
        for payload in batch["payload"]:
            decoded: Decoded = pickle.loads(payload)
            try:
                res = embed_file(decoded, self.models)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
                res = FileResult(decoded.item, "failed", failure_reason(exc), decoded.kind)
            out.append(pickle.dumps(res, protocol=5))
        return {"index": batch["index"], "payload": np.array(out, dtype=object)}


def encoder_resources(resources: dict) -> dict:
    """map_batches arguments of the encoder stage for a cluster's resources.

    One actor per GPU (1 GPU each) when there are GPUs; else CPU actors, at most half the CPUs
    (the other half decodes). A CPU actor reserves memory for its weights, which also keeps
    Ray Data from fusing decode tasks into the actors.
    """
    from ray.data import ActorPoolStrategy

    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    if gpus >= 1:
        return {"num_gpus": 1, "num_cpus": 1, "compute": ActorPoolStrategy(size=gpus)}
    return {"num_cpus": 1, "memory": ENCODER_MEMORY,
            "compute": ActorPoolStrategy(min_size=1, max_size=max(1, cpus // 2))}


class RayEngine:
    """Runs the per-file work as a Ray Data pipeline and streams results back to the driver.

    Args:
        cfg: ingest configuration (``ray_address``); sent unchanged to every worker.
    """

    name = "ray"

    def __init__(self, cfg: IndexConfig):
        self.cfg = cfg
        self.startup_s = 0.0  # seconds spent starting/joining Ray in this run
        import_ray()  # fail now, with the pip command, when the extra is missing

    def dataset(self, items: list[WorkItem]):
        """The lazy Ray Dataset of pickled FileResults for ``items``."""
        ray = import_ray()
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # no plan banners; failures still show
        rows = [{"index": it.index, "item": pickle.dumps(it, protocol=5)} for it in items]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))  # one file per block and task
        ctx = ds.context
        ctx.enable_progress_bars = False  # the driver shows its own
        ctx.print_on_execution_start = False
        ctx.max_errored_blocks = -1  # a crashed worker loses its file (reported), not the run
        ds = ds.map(decode_row, fn_kwargs={"cfg": self.cfg}, num_cpus=1)
        return ds.map_batches(EncoderActor, batch_size=1, fn_constructor_kwargs={"cfg": self.cfg},
                              **encoder_resources(ray.cluster_resources()))

    def run(self, items: Iterable[WorkItem]) -> Iterator[FileResult]:
        """Results as they finish (any order); files whose worker died come last, as failed."""
        items = list(items)  # the driver's decisions, all made before the cluster starts
        if not items:
            return
        self.startup_s = connect(self.cfg.ray_address)
        waiting = {it.index: it for it in items}
        rows = iter(self.dataset(items).iter_rows())
        try:
            for row in rows:
                res: FileResult = pickle.loads(row["payload"])
                waiting.pop(res.item.index, None)
                yield res
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # stops the streaming executor when the driver is interrupted
        for item in waiting.values():
            yield FileResult(item, "failed", LOST, retry=True)
