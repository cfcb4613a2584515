"""A benchmark step run in a fresh Python child process, with its peak memory.

``run_python(script, *args, what=...)`` runs ``python -c script args…`` with
the repository as working directory, reads the one JSON document the script
prints on stdout, and adds ``peak_rss_mib``: the child's peak resident set
size as ``wait4`` reports it. A fresh process keeps the figure free of what
the benchmark itself has allocated. A child that fails raises
``RuntimeError`` naming ``what``.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_python(script: str, *args: str, what: str) -> dict[str, Any]:
    """The JSON result of ``script`` run in a child, plus its ``peak_rss_mib``."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, cwd=ROOT
    )
    assert process.stdout is not None
    output = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed with {process.returncode}")
    result: dict[str, Any] = json.loads(output)
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result
