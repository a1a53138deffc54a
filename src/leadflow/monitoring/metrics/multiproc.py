"""Choose prometheus-client's multiprocess directory before anything imports prometheus_client.

prometheus_client decides at import whether values go to files (PROMETHEUS_MULTIPROC_DIR set)
or stay in memory, so the CLI calls `use_metrics_dir` first thing. This module must not import
prometheus_client itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from leadflow.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_FILE_PID = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_process_ids(directory: Path, *, pattern: str = "*.db") -> set[int]:
    """The processes that wrote files matching `pattern` in `directory` and are gone."""
    pids = set()
    for path in directory.glob(pattern):
        match = _FILE_PID.search(path.name)
        if match:
            pids.add(int(match.group(1)))
    return {pid for pid in pids if not _alive(pid)}


def remove_dead_process_files(directory: Path) -> int:
    """Delete the files of processes that are gone (a previous run); return how many."""
    removed = 0
    dead = dead_process_ids(directory)
    for path in directory.glob("*.db"):
        match = _FILE_PID.search(path.name)
        if match and int(match.group(1)) in dead:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def use_metrics_dir(settings: Settings, *, workers: int = 1) -> Path | None:
    """Turn multiprocess mode on when LEADFLOW_METRICS_DIR is set or several workers serve.

    Returns the directory (None: single-process metrics). Files left by dead processes are
    removed, so their live gauges do not linger; running processes' files are kept.
    """
    directory = settings.metrics_dir
    if directory is None and workers > 1:
        directory = Path(tempfile.mkdtemp(prefix="leadflow-metrics-"))
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    remove_dead_process_files(directory)
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory
