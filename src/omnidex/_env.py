"""What this process may use: cores (affinity, container quota, a Ray reservation) and the cache folder."""
from __future__ import annotations

import os
from pathlib import Path


def cores() -> int:
    """Cores this process may run on: ``OMP_NUM_THREADS`` when set (a Ray task's reservation, or the
    user's choice), else the CPU affinity mask capped by a container's CPU quota."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        n = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, min(n, quota)) if quota else n


def _cgroup_cpus() -> int:
    """CPUs allowed by a cgroup quota (``docker --cpus``), 0 when there is none."""
    try:
        quota, period = _read("/sys/fs/cgroup/cpu.max").split()[:2]  # cgroup v2
    except (OSError, ValueError):
        try:  # cgroup v1
            quota = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").strip()
            period = _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us").strip()
        except OSError:
            return 0
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max": no quota
        return 0
    return -(-q // p) if q > 0 and p > 0 else 0


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def set_torch_threads(n: int | None = None) -> int:
    """Give torch ``n`` intra-op threads (default: :func:`cores`). Returns the count in use (0 without torch)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch comes with every encoder extra
        return 0
    n = n or cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def cache_dir() -> Path:
    """``$OMNIDEX_CACHE``, else ``$XDG_CACHE_HOME/omnidex``, else ``~/.cache/omnidex``."""
    if os.environ.get("OMNIDEX_CACHE"):
        return Path(os.environ["OMNIDEX_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "omnidex"
