"""Run Prometheus' own linter (promtool, from Debian's `prometheus` package) in tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.services import require_service


def promtool() -> str:
    path = shutil.which("promtool")
    require_service("promtool (apt-get install -y prometheus)", path is not None)
    assert path is not None
    return path


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed executable, our own input
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )


def check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
